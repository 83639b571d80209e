using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Tests.Packaging;

/// <summary>
/// The NixOS module's renderings of two sample hosts (tests/nix/golden, kept current by tests/nix/eval-module.sh) must be
/// configurations ullmd accepts, with the values the module meant.
/// </summary>
public sealed class NixRenderedConfigTests
{
    private static async Task<UllmConfig> LoadGoldenAsync(string name)
    {
        var path = Path.Combine(RepositoryScript.Root, "tests", "nix", "golden", name);
        return ConfigLoader.Parse(await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken), path);
    }

    [Fact]
    public async Task Minimal_host_serves_the_unix_socket_only_with_llama_cpp_from_the_store()
    {
        var config = await LoadGoldenAsync("minimal.toml");

        Assert.Null(config.Server.TcpListen);
        Assert.Equal("ullm-admin", config.Server.AdminGroup);
        Assert.Equal("/var/lib/unified-llm", config.Server.DataDir);
        Assert.Equal("/run/opengl-driver/lib/libnvidia-ml.so.1", config.Gpu.NvmlLibrary);
        Assert.True(config.Backends.LlamaCpp.Enabled);
        Assert.StartsWith("/nix/store/", config.Backends.LlamaCpp.Executable, StringComparison.Ordinal);
        Assert.EndsWith("/bin/llama-server", config.Backends.LlamaCpp.Executable, StringComparison.Ordinal);
        Assert.False(config.Backends.Ollama.Enabled);
        Assert.False(config.Backends.Vllm.Enabled);
        Assert.Empty(config.Models);
    }

    [Fact]
    public async Task Sample_host_models_backends_and_freeform_settings_reach_ullmd()
    {
        var config = await LoadGoldenAsync("sample.toml");

        Assert.Equal("0.0.0.0:9000", config.Server.TcpListen);
        Assert.True(config.Security.RequireKeyOnTcp);
        Assert.Equal(1024, config.Gpu.ReserveMib);
        Assert.Equal(Serilog.Events.LogEventLevel.Debug, config.Server.LogLevel);
        Assert.True(config.Backends.Ollama.Enabled);
        Assert.EndsWith("/bin/ollama", config.Backends.Ollama.Executable, StringComparison.Ordinal);

        var tiny = config.Models["tiny"];
        Assert.Equal(BackendKind.LlamaCpp, tiny.Backend);
        Assert.Equal("/var/lib/unified-llm/models/tiny.gguf", tiny.Source);
        Assert.Equal(["tiny-chat"], tiny.Aliases);
        Assert.Equal(256, tiny.Context);
        Assert.Equal(8, tiny.GpuLayers);
        Assert.Equal(TimeSpan.FromSeconds(600), tiny.Ttl);
        Assert.True(tiny.Pinned);
        Assert.Equal(["--threads", "2"], tiny.ExtraArgs);

        var llama3 = config.Models["llama3"];
        Assert.Equal(BackendKind.Ollama, llama3.Backend);
        Assert.Null(llama3.GpuLayers);
        Assert.Equal(80, llama3.Priority);

        Assert.Equal(ApiKeySourceKind.Credential, config.Providers["anthropic"].ApiKey.Kind);
        Assert.Equal(["tiny", "anthropic/claude-haiku"], config.Routes["smart"].Targets);

        // services.unified-llm.peers: the table, its key as the credential the module loads.
        var peer = config.Peers["gpu2"];
        Assert.Equal("http://10.0.0.2:9000/", peer.Root.AbsoluteUri);
        Assert.Equal(new ApiKeySource(ApiKeySourceKind.Credential, "peer-gpu2"), peer.ApiKey);
    }
}
