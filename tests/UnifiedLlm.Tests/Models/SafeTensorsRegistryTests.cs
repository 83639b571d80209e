using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Registry;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Tests.Models;

/// <summary>The registry over a real directory holding GGUF files and SafeTensors model directories, with a real SQLite database.</summary>
public sealed class SafeTensorsRegistryTests : IAsyncLifetime
{
    private readonly Support.TempDirectory dir = new("ullm-st-registry");
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 25, 1, 0, 0, TimeSpan.Zero));
    private ModelRegistry registry = null!;
    private ConfigHolder config = null!;

    private string Models => dir.File("models");

    private string Sharded => Path.Combine(Models, "org", "small-sharded");

    private string Whole => Path.Combine(Models, "small-whole");

    private string Broken => Path.Combine(Models, "broken-config");

    private string Outside => dir.File("outside/vllm-model");

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Models);
        TinyModel.Write(Path.Combine(Models, "tiny.gguf"));
        SafeTensorsModels.WriteShardedSmall(Sharded);
        SafeTensorsModels.WriteWhole(Whole, SafeTensorsModels.SmallConfig, SafeTensorsModels.SmallTensors());
        SafeTensorsModels.WriteWhole(Broken, "{\"model_type\": \"llama\"}", SafeTensorsModels.SmallTensors());
        Directory.CreateDirectory(Path.Combine(Models, "only-config"));
        File.WriteAllText(Path.Combine(Models, "only-config", "config.json"), SafeTensorsModels.SmallConfig);
        SafeTensorsModels.WriteWhole(Outside, SafeTensorsModels.SmallConfig, SafeTensorsModels.SmallTensors());
        var parsed = ConfigLoader.Parse(
            $"""
            [scan]
            directories = ["{Models}"]

            [backends.vllm]
            enabled = true

            [models.local]
            backend = "vllm"
            source = "{Outside}"

            [models.hub]
            backend = "vllm"
            source = "Qwen/Qwen2.5-0.5B-Instruct"
            """,
            dir.File("config.toml"));
        config = new ConfigHolder(parsed, new EventHub(), time);
        var database = await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None);
        registry = new ModelRegistry(new ModelFileStore(database), config, time);
    }

    public ValueTask DisposeAsync()
    {
        registry.Dispose();
        config.Dispose();
        dir.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_mixed_directory_yields_gguf_files_and_safetensors_directories_with_their_formats_and_errors()
    {
        var summary = await registry.ScanAsync(CancellationToken.None);

        // tiny.gguf, three SafeTensors directories under the scan directory, and the configured vLLM directory; the
        // directory without weights and the hub name are not models on this host.
        Assert.Equal(new ScanSummary(5, 5, 0, 0, 0, summary.Errors), summary);
        var error = Assert.Single(summary.Errors);
        Assert.Equal(Broken, error.Path);
        Assert.Equal($"{Path.Combine(Broken, "config.json")}: 'num_hidden_layers' is missing", error.Message);

        var sharded = await registry.FindAsync(Sharded, CancellationToken.None);
        Assert.NotNull(sharded?.Profile);
        Assert.Equal(ModelProfile.SafeTensorsFormat, sharded.Format);
        Assert.Equal(ModelProfile.SafeTensorsFormat, sharded.Profile.Format);
        Assert.Equal(4_624UL, sharded.Profile.ParameterCount);
        Assert.Equal(
            new FileInfo(Path.Combine(Sharded, "model-00001-of-00002.safetensors")).Length + new FileInfo(Path.Combine(Sharded, "model-00002-of-00002.safetensors")).Length,
            sharded.SizeBytes);
        Assert.Equal("llama", (await registry.FindAsync(Outside, CancellationToken.None))?.Profile?.Architecture);
        var gguf = await registry.FindAsync(Path.Combine(Models, "tiny.gguf"), CancellationToken.None);
        Assert.Equal(ModelProfile.GgufFormat, gguf?.Format);
        Assert.Equal(ModelProfile.GgufFormat, gguf?.Profile?.Format);
        Assert.Equal(ModelProfile.SafeTensorsFormat, (await registry.FindAsync(Broken, CancellationToken.None))?.Format);
    }

    [Fact]
    public async Task A_directory_is_read_again_when_its_config_or_a_shard_changes_and_removed_when_it_is_gone()
    {
        await registry.ScanAsync(CancellationToken.None);
        var same = await registry.ScanAsync(CancellationToken.None);
        File.WriteAllText(Path.Combine(Whole, "config.json"), SafeTensorsModels.SmallConfig.Replace("512", "1024", StringComparison.Ordinal));
        File.SetLastWriteTimeUtc(Path.Combine(Whole, "config.json"), DateTime.UtcNow.AddMinutes(1));
        SafeTensorsWriter.Write(Path.Combine(Sharded, "model-00002-of-00002.safetensors"), [.. SafeTensorsModels.SmallTensors().Skip(7)]);
        File.SetLastWriteTimeUtc(Path.Combine(Sharded, "model-00002-of-00002.safetensors"), DateTime.UtcNow.AddMinutes(2));
        Directory.Delete(Broken, recursive: true);

        var changed = await registry.ScanAsync(CancellationToken.None);

        Assert.Equal(new ScanSummary(5, 0, 0, 5, 0, same.Errors), same);
        Assert.Equal(new ScanSummary(4, 0, 2, 2, 1, []), changed with { Errors = [] });
        Assert.Empty(changed.Errors);
        Assert.Equal(1_024UL, (await registry.FindAsync(Whole, CancellationToken.None))?.Profile?.ContextLength);
        Assert.Null(await registry.FindAsync(Broken, CancellationToken.None));
    }

    [Fact]
    public async Task A_vllm_source_directory_is_profiled_on_demand_and_a_missing_one_says_so()
    {
        var onDemand = await registry.ProfileAsync(Outside + "/", CancellationToken.None);
        var missing = await registry.ProfileAsync(dir.File("outside/absent.gguf"), CancellationToken.None);

        Assert.Equal(Outside, onDemand.Path);
        Assert.Equal(ModelProfile.SafeTensorsFormat, onDemand.Profile?.Format);
        Assert.Equal(2, onDemand.Profile?.LayerCount);
        Assert.Equal("file does not exist", missing.Error);
    }
}
