using System.Buffers.Binary;
using UnifiedLlm.Daemon.Models.SafeTensors;

namespace UnifiedLlm.Tests.Models;

/// <summary>
/// Truncated and bit-flipped variants of a valid SafeTensors file must parse or fail with <see cref="SafeTensorsFormatException"/>,
/// never another exception and never a large allocation. Seeds are fixed so a failure reproduces; the message names the variant.
/// </summary>
public sealed class SafeTensorsFuzzTests
{
    private static byte[] Valid() => SafeTensorsWriter.ToBytes(SafeTensorsModels.SmallTensors(), new Dictionary<string, string> { ["format"] = "pt" });

    [Fact(Timeout = 300_000)]
    public async Task Every_truncation_fails_cleanly()
    {
        var valid = Valid();
        await Task.Run(() =>
        {
            // The tensors must cover the data area exactly, so even cutting one data byte is caught.
            for (var length = 0; length < valid.Length; length++)
            {
                var outcome = Parse(valid[..length]);
                Assert.True(outcome is SafeTensorsFormatException, $"truncated to {length}: {outcome}");
            }
        }, TestContext.Current.CancellationToken);
    }

    [Fact(Timeout = 300_000)]
    public async Task Thousands_of_bit_flips_in_the_header_never_escape_as_another_exception()
    {
        var valid = Valid();
        var headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        var random = new Random(20261125);
        var rejected = 0;
        await Task.Run(() =>
        {
            for (var round = 0; round < 5000; round++)
            {
                var variant = (byte[])valid.Clone();
                var flips = 1 + random.Next(4);
                for (var f = 0; f < flips; f++)
                {
                    variant[random.Next(headerEnd)] ^= (byte)(1 << random.Next(8));
                }

                var outcome = Parse(variant);
                Assert.True(outcome is null or SafeTensorsFormatException, $"round {round}: {outcome}");
                rejected += outcome is null ? 0 : 1;
            }
        }, TestContext.Current.CancellationToken);

        // Flips in names and metadata values can leave a valid file; flips in lengths, keys, dtypes and numbers must not.
        Assert.InRange(rejected, 2500, 5000);
    }

    [Fact(Timeout = 300_000)]
    public async Task Hostile_lengths_with_random_tails_fail_without_large_allocations()
    {
        var random = new Random(11);
        await Task.Run(() =>
        {
            for (var round = 0; round < 2000; round++)
            {
                var bytes = new byte[8 + random.Next(0, 512)];
                random.NextBytes(bytes);
                if (round % 2 == 0)
                {
                    // Half the rounds claim a length that fits the file, so the JSON parser sees the random bytes.
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)random.Next(0, bytes.Length - 7));
                }

                var before = GC.GetAllocatedBytesForCurrentThread();

                var outcome = Parse(bytes);

                Assert.True(outcome is null or SafeTensorsFormatException, $"round {round}: {outcome}");
                Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 * 1024 * 1024, $"round {round} allocated too much");
            }
        }, TestContext.Current.CancellationToken);
    }

    private static Exception? Parse(byte[] bytes)
    {
        try
        {
            SafeTensorsHeaderReaderTests.Read(bytes);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
