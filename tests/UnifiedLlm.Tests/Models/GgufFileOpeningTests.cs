using System.Runtime.InteropServices;
using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Tests.Models;

public sealed partial class GgufFileOpeningTests
{
    [Fact(Timeout = 60_000)]
    public async Task A_fifo_named_like_a_model_is_refused_without_waiting_for_a_writer()
    {
        using var dir = new TempDirectory();
        var path = dir.File("trap.gguf");
        Assert.Equal(0, MakeFifo(path, Convert.ToUInt32("600", 8)));

        var error = await Task.Run(() => Assert.Throws<GgufFormatException>(() => GgufReader.Read(path, CancellationToken.None)), TestContext.Current.CancellationToken);

        Assert.Equal($"{path}: not a regular file (a pipe, socket or terminal)", error.Message);
    }

    [Fact]
    public void An_empty_file_is_a_truncated_gguf()
    {
        using var dir = new TempDirectory();
        var path = dir.File("empty.gguf");
        File.WriteAllBytes(path, []);

        var error = Assert.Throws<GgufFormatException>(() => GgufReader.Read(path, CancellationToken.None));

        Assert.Equal($"{path}: at byte 0: magic needs 4 bytes but only 0 remain (truncated file?)", error.Message);
    }

    [Fact]
    public void A_missing_file_is_an_io_error_naming_it()
    {
        using var dir = new TempDirectory();
        var path = dir.File("absent.gguf");

        var error = Assert.Throws<IOException>(() => GgufReader.Read(path, CancellationToken.None));

        Assert.StartsWith($"{path}: cannot open: ", error.Message, StringComparison.Ordinal);
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, uint mode);
}
