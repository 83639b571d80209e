using System.Text.Json;
using UnifiedLlm.Tests.Models;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>ullmctl scan, models and model show against a real ullmd whose scan directory and vLLM source hold SafeTensors models.</summary>
public sealed class SafeTensorsRegistryCommandTests
{
    [Fact]
    public async Task Scan_counts_safetensors_directories_and_models_shows_the_vllm_profile()
    {
        using var outside = new Support.TempDirectory("ullm-ctl-vllm");
        var vllmModel = outside.File("small-llama");
        SafeTensorsModels.WriteShardedSmall(vllmModel);
        await using var host = await CtlHost.StartAsync(nvml: null, extraConfig: $"""
            [backends.vllm]
            enabled = true

            [models.local]
            backend = "vllm"
            source = "{vllmModel}"
            """);
        Assert.Equal(0, (await host.CtlAsync("scan")).ExitCode);
        SafeTensorsModels.WriteWhole(
            Path.Combine(host.ModelsDirectory, "qwen"),
            SafeTensorsModels.SmallConfig.Replace("\"llama\"", "\"qwen2\"", StringComparison.Ordinal),
            SafeTensorsModels.SmallTensors());

        var scan = await host.CtlAsync("scan");
        var models = await host.CtlAsync("models");
        var json = await host.CtlAsync("model", "show", "local", "--json");

        Assert.Equal(0, scan.ExitCode);
        Assert.StartsWith("4 model file(s): 1 added, 0 updated, 3 unchanged, 0 removed, 1 error(s)\n", scan.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(0, models.ExitCode);
        var local = Assert.Single(models.StandardOutput.Split('\n'), line => line.StartsWith("local ", StringComparison.Ordinal));
        Assert.Matches(@"^local\s+vllm\s+unloaded\s+llama\s+F32\s", local);
        using var doc = JsonDocument.Parse(json.StandardOutput);
        var profile = doc.RootElement.GetProperty("profile");
        Assert.Equal("safetensors", profile.GetProperty("format").GetString());
        Assert.Equal("4624", profile.GetProperty("parameterCount").GetString());
        Assert.Equal(2, profile.GetProperty("layerCount").GetInt32());
        Assert.Equal(512, profile.GetProperty("contextLength").GetInt32());
    }
}
