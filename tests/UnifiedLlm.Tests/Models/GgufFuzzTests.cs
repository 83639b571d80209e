using UnifiedLlm.Daemon.Models.Gguf;

namespace UnifiedLlm.Tests.Models;

/// <summary>
/// Truncated and bit-flipped variants of a valid file must either parse or fail with <see cref="GgufFormatException"/>.
/// Seeds are fixed so a failure reproduces; the message names the variant.
/// </summary>
public sealed class GgufFuzzTests
{
    [Fact(Timeout = 300_000)]
    public async Task Every_truncation_fails_cleanly()
    {
        var valid = GgufFixtures.ToBytes(GgufFixtures.AllValueTypes());
        await Task.Run(() =>
        {
            for (var length = 0; length < valid.Length; length++)
            {
                var outcome = Parse(valid[..length]);
                // Only the zero padding after the last tensor may be cut without the reader noticing.
                Assert.True(outcome is GgufFormatException || length >= valid.Length - 32, $"truncated to {length}: {outcome}");
            }
        }, TestContext.Current.CancellationToken);
    }

    [Theory(Timeout = 300_000)]
    [InlineData("all value types")]
    [InlineData("tiny model")]
    public async Task Thousands_of_bit_flips_never_escape_as_another_exception(string fixture)
    {
        var valid = fixture == "tiny model" ? TinyModelBytes() : GgufFixtures.ToBytes(GgufFixtures.AllValueTypes());
        var headerLength = (int)GgufFixtures.Read(valid).DataOffset;
        var random = new Random(20260601);
        var rejected = 0;
        await Task.Run(() =>
        {
            for (var round = 0; round < 5000; round++)
            {
                var variant = (byte[])valid.Clone();
                var flips = 1 + random.Next(4);
                for (var f = 0; f < flips; f++)
                {
                    // Flip bits in the header and tensor infos, where the structure lives.
                    variant[random.Next(headerLength)] ^= (byte)(1 << random.Next(8));
                }

                var outcome = Parse(variant);
                Assert.True(outcome is null or GgufFormatException, $"{fixture} round {round}: {outcome}");
                rejected += outcome is null ? 0 : 1;
            }
        }, TestContext.Current.CancellationToken);

        // Most random flips hit lengths, counts or types and must be caught.
        Assert.InRange(rejected, 1000, 5000);
    }

    [Fact(Timeout = 300_000)]
    public async Task Hostile_lengths_with_random_tails_fail_without_large_allocations()
    {
        var random = new Random(7);
        await Task.Run(() =>
        {
            for (var round = 0; round < 2000; round++)
            {
                var tail = new byte[random.Next(0, 512)];
                random.NextBytes(tail);
                var bytes = new ByteVector().Header(3, (ulong)random.Next(0, 4), (ulong)random.Next(0, 4)).Raw(tail).ToArray();
                var before = GC.GetAllocatedBytesForCurrentThread();

                var outcome = Parse(bytes);

                Assert.True(outcome is null or GgufFormatException, $"round {round}: {outcome}");
                Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 * 1024 * 1024, $"round {round} allocated too much");
            }
        }, TestContext.Current.CancellationToken);
    }

    private static byte[] TinyModelBytes()
    {
        using var dir = new TempDirectory();
        var path = dir.File("tiny.gguf");
        UnifiedLlm.Daemon.Models.TinyModel.Write(path);
        return File.ReadAllBytes(path);
    }

    private static Exception? Parse(byte[] bytes)
    {
        try
        {
            GgufFixtures.Read(bytes);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
