using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Tests.Models;
using UnifiedLlm.Tests.Support;
using TempDirectory = UnifiedLlm.Tests.Support.TempDirectory;

namespace UnifiedLlm.Tests.Packaging;

/// <summary>The packaging checks under tests/ and nix/, run as part of the test suite.</summary>
public sealed class PackagingScriptTests
{
    private static readonly Dictionary<string, string?> NoChanges = [];

    /// <summary>
    /// The packaged unit sets MemoryDenyWriteExecute=true, under which only the native ullmd runs, as users install it;
    /// tests/run.sh publishes it and names it in ULLM_ULLMD.
    /// </summary>
    private static string NativeUllmdOrSkip()
    {
        var ullmd = RepoPaths.NativeUllmd;
        if (ullmd is null)
        {
            Assert.Skip("NOT RUN: the packaged unit runs only the native ullmd (MemoryDenyWriteExecute=true); set ULLM_ULLMD to a Native AOT publish of daemon/Ullmd.csproj, as tests/run.sh does");
        }

        return ullmd;
    }

    [Fact]
    public async Task Systemd_units_tmpfiles_and_sysusers_entries_are_valid()
    {
        var result = await RepositoryScript.RunAsync("tests/packaging/verify-units.sh", [], NoChanges, TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task Ullmd_runs_under_the_packaged_unit_in_a_real_systemd()
    {
        // The project references put ullmctl (apphost, dlls, deps) next to the test assembly; ullmd is the native one.
        var result = await RepositoryScript.RunAsync(
            "tests/packaging/unit-in-systemd.sh", [AppContext.BaseDirectory.TrimEnd('/'), NativeUllmdOrSkip()], NoChanges, TimeSpan.FromMinutes(8));

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task Ullmd_serves_a_real_llama_server_as_a_transient_unit_and_adopts_it_after_SIGKILL()
    {
        var llamaServer = LlamaServerBinary.Find();
        if (llamaServer is null)
        {
            Assert.Skip(LlamaServerBinary.HowToGet);
        }

        using var directory = new TempDirectory();
        var model = directory.File("tiny.gguf");
        // A long trained context lets a completion stream for seconds, long enough to kill its backend mid-stream.
        TinyModel.Write(model, RandomModelShape.Tiny with { ContextLength = 32768 });
        var result = await RepositoryScript.RunAsync(
            "tests/packaging/backends-in-systemd.sh", [AppContext.BaseDirectory.TrimEnd('/'), llamaServer, model, NativeUllmdOrSkip()], NoChanges, TimeSpan.FromMinutes(9));

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task Every_nix_file_parses()
    {
        var result = await RepositoryScript.RunAsync("tests/nix/parse-all.sh", [], NoChanges, TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task The_package_builds_in_release_from_exactly_the_source_set_nix_admits()
    {
        // nix/package.nix's own src, evaluated by nix-instantiate and copied to an empty directory (tests/nix/source-set-build.sh):
        // the Release builds of both projects, then ullmctl and ullmd published as buildDotnetModule does (Native AOT:
        // minutes each).
        var result = await RepositoryScript.RunAsync("tests/nix/source-set-build.sh", [], NoChanges, TimeSpan.FromMinutes(30));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("passed: Release build of daemon/Ullmd.csproj and ctl/Ullmctl.csproj", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("passed: ullmctl published as buildDotnetModule does is a native executable", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("passed: ullmd published as buildDotnetModule does is a native executable", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nix_module_and_flake_evaluate_as_expected()
    {
        var result = await RepositoryScript.RunAsync("tests/nix/eval-module.sh", [], NoChanges, TimeSpan.FromMinutes(5));

        Assert.True(result.ExitCode == 0, result.ToString());
        if (result.StandardOutput.Contains("NOT RUN", StringComparison.Ordinal))
        {
            Assert.Skip(result.StandardOutput.Trim());
        }

        Assert.Contains("checks passed", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nix_deps_list_every_locked_package()
    {
        // The test run has restored already; restoring again from inside it would race the build's obj/ files.
        var result = await RepositoryScript.RunAsync("nix/check-deps.sh", ["--no-restore"], NoChanges, TimeSpan.FromMinutes(3));

        Assert.True(result.ExitCode == 0, result.ToString());
    }
}
