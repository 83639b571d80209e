using Microsoft.Extensions.Time.Testing;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Events;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Registry;
using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Tests.Models;

/// <summary>The registry over real files and a real SQLite database: what is read, what is cached by size+mtime, what is removed.</summary>
public sealed class ModelRegistryTests : IAsyncLifetime
{
    private readonly Support.TempDirectory dir = new("ullm-registry");
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private ModelRegistry registry = null!;
    private ConfigHolder config = null!;

    private string Models => dir.File("models");

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Models, "nested"));
        TinyModel.Write(Path.Combine(Models, "tiny.gguf"));
        TinyModel.Write(Path.Combine(Models, "nested", "tiny-f16.gguf"), UnifiedLlm.Daemon.Models.Gguf.GgmlType.F16);
        File.WriteAllText(Path.Combine(Models, "broken.gguf"), "GGUF but not really");
        File.WriteAllText(Path.Combine(Models, "notes.txt"), "not a model");
        var outside = dir.File("outside/configured.gguf");
        Directory.CreateDirectory(Path.GetDirectoryName(outside)!);
        TinyModel.Write(outside);
        var parsed = ConfigLoader.Parse(
            $"""
            [scan]
            directories = ["{Models}"]

            [models.configured]
            backend = "llamacpp"
            source = "{outside}"

            [backends.ollama]
            enabled = true

            [models.remote]
            backend = "ollama"
            source = "llama3:8b"
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
    public async Task A_first_scan_reads_every_gguf_under_the_directories_and_the_configured_sources_and_stores_errors_per_file()
    {
        var summary = await registry.ScanAsync(CancellationToken.None);

        Assert.Equal(new ScanSummary(4, 4, 0, 0, 0, summary.Errors), summary);
        var error = Assert.Single(summary.Errors);
        Assert.Equal(Path.Combine(Models, "broken.gguf"), error.Path);
        Assert.Contains("at byte 4: unsupported GGUF version", error.Message);

        var tiny = await registry.FindAsync(Path.Combine(Models, "tiny.gguf"), CancellationToken.None);
        Assert.NotNull(tiny?.Profile);
        Assert.Null(tiny.Error);
        Assert.Equal("llama", tiny.Profile.Architecture);
        Assert.Equal(RandomModelShape.Tiny.LayerCount, tiny.Profile.LayerCount);
        Assert.Equal((ulong)RandomModelShape.Tiny.ContextLength, tiny.Profile.ContextLength);
        Assert.Equal(new FileInfo(Path.Combine(Models, "tiny.gguf")).Length, tiny.SizeBytes);
        Assert.Equal("F16", (await registry.FindAsync(Path.Combine(Models, "nested", "tiny-f16.gguf"), CancellationToken.None))?.Profile?.FileType);
        var broken = await registry.FindAsync(Path.Combine(Models, "broken.gguf"), CancellationToken.None);
        Assert.Null(broken?.Profile);
        Assert.Equal(error.Message, broken?.Error);
    }

    [Fact]
    public async Task A_file_with_the_same_size_and_mtime_is_not_read_again_and_one_whose_mtime_changed_is()
    {
        await registry.ScanAsync(CancellationToken.None);
        var path = Path.Combine(Models, "tiny.gguf");
        var mtime = File.GetLastWriteTimeUtc(path);
        var bytes = await File.ReadAllBytesAsync(path);
        Array.Fill(bytes, (byte)0xFF, 0, 8);
        await File.WriteAllBytesAsync(path, bytes);
        File.SetLastWriteTimeUtc(path, mtime);

        var same = await registry.ScanAsync(CancellationToken.None);
        File.SetLastWriteTimeUtc(path, mtime.AddSeconds(5));
        var touched = await registry.ScanAsync(CancellationToken.None);

        Assert.Equal(new ScanSummary(4, 0, 0, 4, 0, same.Errors), same);
        Assert.Equal(new ScanSummary(4, 0, 1, 3, 0, touched.Errors), touched);
        Assert.Contains(touched.Errors, e => e.Path == path && e.Message.Contains("not a GGUF file", StringComparison.Ordinal));
        var stored = await registry.FindAsync(path, CancellationToken.None);
        Assert.Null(stored?.Profile);
    }

    [Fact]
    public async Task Files_that_disappeared_are_removed_and_the_profile_of_a_configured_source_is_read_on_demand()
    {
        await registry.ScanAsync(CancellationToken.None);
        File.Delete(Path.Combine(Models, "nested", "tiny-f16.gguf"));
        File.Delete(Path.Combine(Models, "broken.gguf"));

        var summary = await registry.ScanAsync(CancellationToken.None);
        var onDemand = await registry.ProfileAsync(dir.File("outside/configured.gguf"), CancellationToken.None);
        var missing = await registry.ProfileAsync(dir.File("outside/absent.gguf"), CancellationToken.None);

        Assert.Equal(new ScanSummary(2, 0, 0, 2, 2, []), summary with { Errors = [] });
        Assert.Empty(summary.Errors);
        Assert.Null(await registry.FindAsync(Path.Combine(Models, "broken.gguf"), CancellationToken.None));
        Assert.Equal(RandomModelShape.Tiny.LayerCount, onDemand.Profile?.LayerCount);
        Assert.Null(missing.Profile);
        Assert.Equal("file does not exist", missing.Error);
    }

    [Fact]
    public void The_finder_takes_the_first_part_of_a_split_model_and_reports_a_missing_directory()
    {
        var scan = dir.File("split");
        Directory.CreateDirectory(scan);
        foreach (var name in new[] { "big-00001-of-00003.gguf", "big-00002-of-00003.gguf", "big-00003-of-00003.gguf", "whole.GGUF", "readme.md" })
        {
            File.WriteAllText(Path.Combine(scan, name), "");
        }

        var errors = new List<ScanFileError>();
        var found = ModelFileFinder.Find([scan, dir.File("absent")], ["/models/configured.gguf"], errors);

        Assert.Equal(["/models/configured.gguf", Path.Combine(scan, "big-00001-of-00003.gguf"), Path.Combine(scan, "whole.GGUF")], found);
        Assert.Equal([new ScanFileError(dir.File("absent"), "scan directory does not exist")], errors);
    }
}
