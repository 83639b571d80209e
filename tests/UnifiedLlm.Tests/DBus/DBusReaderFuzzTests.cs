using System.Diagnostics;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

/// <summary>
/// Thousands of truncated and bit-flipped messages (seeded, so every run is the same): the reader must either parse
/// them or throw <see cref="DBusProtocolException"/> — never another exception, a hang, or a huge allocation.
/// </summary>
public sealed class DBusReaderFuzzTests
{
    private const int Seed = 20261124;

    private static readonly byte[][] Seeds = [.. SeedMessages().Select(m => DBusMessageWriter.Write(m))];

    [Fact(Timeout = 120_000)]
    public async Task Every_truncation_of_every_seed_is_a_typed_error()
    {
        await Task.Yield();
        var cancellation = TestContext.Current.CancellationToken;
        foreach (var message in Seeds)
        {
            for (var length = 0; length < message.Length; length++)
            {
                cancellation.ThrowIfCancellationRequested();
                AssertParsesOrProtocolError(message.AsSpan(0, length).ToArray());
            }
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Random_bit_flips_and_byte_overwrites_parse_or_are_typed_errors()
    {
        await Task.Yield();
        var cancellation = TestContext.Current.CancellationToken;
        var random = new Random(Seed);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var rejected = 0;
        const int Iterations = 20_000;
        for (var i = 0; i < Iterations; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var message = (byte[])Seeds[random.Next(Seeds.Length)].Clone();
            var mutations = 1 + random.Next(4);
            for (var m = 0; m < mutations; m++)
            {
                var offset = random.Next(message.Length);
                if (random.Next(2) == 0)
                {
                    message[offset] ^= (byte)(1 << random.Next(8));
                }
                else
                {
                    message[offset] = (byte)random.Next(256);
                }
            }

            rejected += AssertParsesOrProtocolError(message) ? 0 : 1;
        }

        var allocatedPerMessage = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / Iterations;
        Assert.True(rejected > Iterations / 2, $"only {rejected} of {Iterations} mutated messages were rejected; the reader is not validating");
        Assert.True(allocatedPerMessage < 1_000_000, $"reader allocated {allocatedPerMessage} bytes per small message on average: a length is trusted before it is checked");
    }

    [Fact(Timeout = 120_000)]
    public async Task Fixed_header_with_random_lengths_never_announces_more_than_the_limit()
    {
        await Task.Yield();
        var cancellation = TestContext.Current.CancellationToken;
        var random = new Random(Seed);
        var header = new byte[16];
        for (var i = 0; i < 10_000; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            random.NextBytes(header);
            header[0] = random.Next(2) == 0 ? (byte)'l' : (byte)'B';
            header[3] = 1;
            try
            {
                Assert.InRange(DBusMessageReader.GetMessageLength(header), 16, DBusLimits.MaxMessageBytes);
            }
            catch (DBusProtocolException)
            {
            }
        }
    }

    private static bool AssertParsesOrProtocolError(byte[] bytes)
    {
        try
        {
            DBusMessageReader.Read(bytes);
            return true;
        }
        catch (DBusProtocolException)
        {
            return false;
        }
        catch (Exception e)
        {
            Assert.Fail($"reader threw {e.GetType().Name} instead of DBusProtocolException for {Hex.Of(bytes)}: {e}");
            return false;
        }
    }

    private static IEnumerable<DBusMessage> SeedMessages()
    {
        yield return DBusMessage.MethodCall(
            "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "StartTransientUnit",
            new DBusString("ullm-x-1.service"),
            new DBusString("fail"),
            new DBusArray("(sv)",
            [
                new DBusStruct(new DBusString("Description"), new DBusVariant(new DBusString("d"))),
                new DBusStruct(new DBusString("ExecStartEx"), new DBusVariant(new DBusArray("(sasas)",
                [
                    new DBusStruct(new DBusString("/bin/sleep"), DBusArray.OfStrings(["/bin/sleep", "$HOME"]), DBusArray.OfStrings(["no-env-expand"])),
                ]))),
                new DBusStruct(new DBusString("MemoryMax"), new DBusVariant(new DBusUInt64(104857600))),
                new DBusStruct(new DBusString("LogExtraFields"), new DBusVariant(new DBusArray("ay", [new DBusByteArray("ULLM_MODEL=m"u8.ToArray())]))),
                new DBusStruct(new DBusString("Nested"), new DBusVariant(new DBusVariant(new DBusArray("{sv}", [new DBusDictEntry(new DBusString("k"), new DBusVariant(new DBusDouble(1.5)))])))),
            ]),
            new DBusArray("(sa(sv))", [])) with
        { Serial = 1 };
        yield return new DBusMessage { Type = DBusMessageType.Error, Serial = 2, ErrorName = "org.freedesktop.systemd1.NoSuchUnit", ReplySerial = 1, Destination = ":1.5", Body = [new DBusString("Unit x not loaded.")] };
        yield return DBusMessage.Signal(
            "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "JobRemoved",
            new DBusUInt32(42), new DBusObjectPath("/org/freedesktop/systemd1/job/42"), new DBusString("a.service"), new DBusString("done")) with
        { Serial = 3, Sender = ":1.0" };
        yield return new DBusMessage
        {
            Type = DBusMessageType.MethodReturn,
            Serial = 4,
            ReplySerial = 9,
            Body = [new DBusArray("(ssssssouso)", [new DBusStruct(
                new DBusString("a.service"), new DBusString("d"), new DBusString("loaded"), new DBusString("active"), new DBusString("running"), new DBusString(""),
                new DBusObjectPath("/org/freedesktop/systemd1/unit/a_2eservice"), new DBusUInt32(0), new DBusString(""), new DBusObjectPath("/"))]),
                new DBusInt16(-3), new DBusBoolean(true), new DBusInt64(-5), new DBusUInt16(7), new DBusSignatureValue("a{sv}")],
        };
    }
}
