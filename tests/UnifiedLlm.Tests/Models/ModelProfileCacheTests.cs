using UnifiedLlm.Daemon.Models;
using TempDirectory = UnifiedLlm.Tests.Support.TempDirectory;

namespace UnifiedLlm.Tests.Models;

public sealed class ModelProfileCacheTests
{
    [Fact]
    public void An_unchanged_file_is_read_once()
    {
        using var dir = new TempDirectory();
        var path = dir.File("m.gguf");
        TinyModel.Write(path);
        var cache = new ModelProfileCache();

        var first = cache.Read(path, TestContext.Current.CancellationToken);
        var second = cache.Read(path, TestContext.Current.CancellationToken);

        Assert.Same(first, second);
    }

    [Fact]
    public void A_rewritten_file_is_read_again()
    {
        using var dir = new TempDirectory();
        var path = dir.File("m.gguf");
        TinyModel.Write(path);
        var cache = new ModelProfileCache();
        Assert.Equal(2, cache.Read(path, TestContext.Current.CancellationToken).LayerCount);

        TinyModel.Write(path, RandomModelShape.Tiny with { LayerCount = 3 });

        Assert.Equal(3, cache.Read(path, TestContext.Current.CancellationToken).LayerCount);
    }

    [Fact]
    public void A_missing_file_is_an_IO_error()
    {
        using var dir = new TempDirectory();

        Assert.Throws<FileNotFoundException>(() => new ModelProfileCache().Read(dir.File("gone.gguf"), TestContext.Current.CancellationToken));
    }
}
