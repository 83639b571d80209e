using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Storage;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Footprints;

public sealed class FootprintStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task A_remeasured_configuration_replaces_the_old_row_and_versions_are_kept_apart()
    {
        var store = new FootprintStore(await Database.OpenAsync(dir.File("ullm.db"), CancellationToken.None));
        var first = new MeasuredFootprint("m1", "b100", GgmlType.F16, true, 4096, 33, 100, 200, T0);
        await store.SaveAsync(first, CancellationToken.None);
        await store.SaveAsync(first with { GpuFixedBytes = 90, MeasuredAt = T0.AddHours(1) }, CancellationToken.None);
        await store.SaveAsync(first with { BackendVersion = "b200", GpuFixedBytes = 70 }, CancellationToken.None);
        await store.SaveAsync(first with { ContextLength = 8192, CacheType = GgmlType.Q8_0 }, CancellationToken.None);

        var rows = await store.ListAsync("m1", "b100", CancellationToken.None);

        Assert.Equal([first with { GpuFixedBytes = 90, MeasuredAt = T0.AddHours(1) }, first with { ContextLength = 8192, CacheType = GgmlType.Q8_0 }], rows);
        Assert.Equal(70UL, Assert.Single(await store.ListAsync("m1", "b200", CancellationToken.None)).GpuFixedBytes);
        Assert.Empty(await store.ListAsync("m2", "b100", CancellationToken.None));
    }

    [Fact]
    public async Task A_file_keeps_its_identity_when_copied_and_loses_it_when_its_content_changes()
    {
        var original = dir.File("a.gguf");
        var bytes = new byte[(3 << 20) + 17];
        new Random(1).NextBytes(bytes);
        await File.WriteAllBytesAsync(original, bytes);
        File.Copy(original, dir.File("copy.gguf"));
        bytes[^1] ^= 1;
        await File.WriteAllBytesAsync(dir.File("changed-tail.gguf"), bytes);
        await File.WriteAllBytesAsync(dir.File("small.gguf"), bytes.AsMemory(0, 10).ToArray());

        var key = await ModelIdentity.ComputeAsync(original, CancellationToken.None);

        Assert.Equal(32, key.Length);
        Assert.Equal(key, await ModelIdentity.ComputeAsync(dir.File("copy.gguf"), CancellationToken.None));
        Assert.NotEqual(key, await ModelIdentity.ComputeAsync(dir.File("changed-tail.gguf"), CancellationToken.None));
        Assert.NotEqual(key, await ModelIdentity.ComputeAsync(dir.File("small.gguf"), CancellationToken.None));
    }
}
