using System.Text.RegularExpressions;

namespace UnifiedLlm.Tests.Packaging;

/// <summary>
/// tests/tools/llama-server.sh's lookup order, with the real llama-server it provides (built once per machine, which
/// takes minutes the first time) and /bin/true as a program that is not a llama-server.
/// </summary>
public sealed partial class LlamaServerScriptTests
{
    private const string Script = "tests/tools/llama-server.sh";
    private static readonly TimeSpan FirstBuild = TimeSpan.FromMinutes(40);
    private static readonly TimeSpan Lookup = TimeSpan.FromMinutes(1);
    private static readonly Dictionary<string, string?> NoOverrides = new() { ["ULLM_LLAMA_SERVER"] = null };

    [Fact]
    public async Task Environment_variable_wins_and_must_be_a_llama_server()
    {
        var real = await RealLlamaServerAsync();

        var accepted = await RepositoryScript.RunAsync(Script, [], new Dictionary<string, string?> { ["ULLM_LLAMA_SERVER"] = real }, Lookup);
        var rejected = await RepositoryScript.RunAsync(Script, [], new Dictionary<string, string?> { ["ULLM_LLAMA_SERVER"] = "/bin/true" }, Lookup);

        Assert.True(accepted.ExitCode == 0, accepted.ToString());
        Assert.Equal(real, accepted.StandardOutput.Trim());
        Assert.Equal(1, rejected.ExitCode);
        Assert.Empty(rejected.StandardOutput);
        Assert.Contains("ULLM_LLAMA_SERVER=/bin/true is not a usable llama-server", rejected.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_llama_server_on_path_is_used_before_the_cache()
    {
        var real = await RealLlamaServerAsync();
        var bin = Directory.CreateTempSubdirectory("ullm-path-");
        try
        {
            File.CreateSymbolicLink(Path.Combine(bin.FullName, "llama-server"), real);

            var result = await RepositoryScript.RunAsync(Script, [], WithPathFirst(bin.FullName, cacheHome: bin.FullName), Lookup);

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Equal(real, result.StandardOutput.Trim());
        }
        finally
        {
            bin.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Something_else_named_llama_server_on_path_is_skipped_for_the_cache()
    {
        var real = await RealLlamaServerAsync();
        var root = Directory.CreateTempSubdirectory("ullm-path-");
        try
        {
            var bin = Directory.CreateDirectory(Path.Combine(root.FullName, "bin")).FullName;
            var cacheHome = Path.Combine(root.FullName, "cache");
            File.CreateSymbolicLink(Path.Combine(bin, "llama-server"), "/bin/true");
            var cached = Path.Combine(cacheHome, "unified-llm", "llama-server", await CacheKeyAsync(), "llama-server");
            Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
            File.CreateSymbolicLink(cached, real);
            File.CreateSymbolicLink(Path.Combine(Path.GetDirectoryName(cached)!, "ggml-rpc-server"), RpcServerBeside(real));

            var result = await RepositoryScript.RunAsync(Script, [], WithPathFirst(bin, cacheHome), Lookup);

            Assert.True(result.ExitCode == 0, result.ToString());
            // The script prints what it found with links resolved: the cached link leads to the real build.
            Assert.Equal(real, result.StandardOutput.Trim());
            Assert.Contains($"ignoring {bin}/llama-server on PATH", result.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_provided_server_is_the_pinned_llama_cpp_release()
    {
        var real = await RealLlamaServerAsync();
        var tag = Pin(await ScriptTextAsync(), "LLAMA_CPP_TAG");

        var version = await RepositoryScript.RunProgramAsync(real, ["--version"], NoOverrides, Lookup);

        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.Contains($"version: {tag.TrimStart('v')}", version.StandardOutput + version.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rpc_server_is_built_beside_llama_server_and_its_absence_is_named()
    {
        var real = await RealLlamaServerAsync();
        var bin = Directory.CreateTempSubdirectory("ullm-norpc-");
        try
        {
            // A copy, not a link: the script resolves links and would find the one beside the original.
            var lone = Path.Combine(bin.FullName, "llama-server");
            File.Copy(real, lone);

            var found = await RepositoryScript.RunAsync(Script, ["--rpc-server"], NoOverrides, Lookup);
            var missing = await RepositoryScript.RunAsync(Script, ["--rpc-server"], new Dictionary<string, string?> { ["ULLM_LLAMA_SERVER"] = lone }, Lookup);
            var help = await RepositoryScript.RunProgramAsync(found.StandardOutput.Trim(), ["--help"], NoOverrides, Lookup);

            Assert.True(found.ExitCode == 0, found.ToString());
            Assert.Equal(RpcServerBeside(real), found.StandardOutput.Trim());
            Assert.Contains("-d, --device", help.StandardOutput + help.StandardError, StringComparison.Ordinal);
            Assert.Equal(1, missing.ExitCode);
            Assert.Contains($"no ggml-rpc-server beside {lone}", missing.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            bin.Delete(recursive: true);
        }
    }

    private static string RpcServerBeside(string llamaServer) => Path.Combine(Path.GetDirectoryName(llamaServer)!, "ggml-rpc-server");

    private static async Task<string> RealLlamaServerAsync()
    {
        var result = await RepositoryScript.RunAsync(Script, [], NoOverrides, FirstBuild);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StandardOutput.Trim();
    }

    private static Dictionary<string, string?> WithPathFirst(string directory, string cacheHome) => new()
    {
        ["ULLM_LLAMA_SERVER"] = null,
        ["PATH"] = directory + ":" + Environment.GetEnvironmentVariable("PATH"),
        ["XDG_CACHE_HOME"] = cacheHome,
    };

    /// <summary>The cache directory name, from the pins at the top of the script.</summary>
    private static async Task<string> CacheKeyAsync()
    {
        var text = await ScriptTextAsync();
        return $"{Pin(text, "NODE_LLAMA_CPP_VERSION")}-{Pin(text, "LLAMA_CPP_TAG")}-{Pin(text, "BUILD_FLAVOUR")}";
    }

    private static Task<string> ScriptTextAsync() =>
        File.ReadAllTextAsync(Path.Combine(RepositoryScript.Root, Script), TestContext.Current.CancellationToken);

    private static string Pin(string script, string name)
    {
        var match = PinLine().Matches(script).FirstOrDefault(m => m.Groups[1].Value == name);
        Assert.True(match is not null, $"{Script} has no readonly {name}=\"…\" pin");
        return match.Groups[2].Value;
    }

    [GeneratedRegex("^readonly ([A-Z_]+)=\"([^\"]+)\"$", RegexOptions.Multiline)]
    private static partial Regex PinLine();
}
