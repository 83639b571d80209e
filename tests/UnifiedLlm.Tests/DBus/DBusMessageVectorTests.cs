using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

/// <summary>Whole messages, bytes worked out by hand from the specification (offsets in the comments).</summary>
public sealed class DBusMessageVectorTests
{
    // METHOD_CALL serial 7: PATH "/a", INTERFACE "b.c", MEMBER "M", DESTINATION "d.e", SIGNATURE "su"; body ("x", 5).
    private const string MethodCall =
        "6c 01 00 01 | 0c 00 00 00 | 07 00 00 00 | 48 00 00 00" +
        "| 01 01 6f 00 02 00 00 00 2f 61 00 | 00 00 00 00 00" + // @16 PATH, pad to 32
        "| 02 01 73 00 03 00 00 00 62 2e 63 00 | 00 00 00 00" + // @32 INTERFACE, pad to 48
        "| 03 01 73 00 01 00 00 00 4d 00 | 00 00 00 00 00 00" + // @48 MEMBER, pad to 64
        "| 06 01 73 00 03 00 00 00 64 2e 65 00 | 00 00 00 00" + // @64 DESTINATION, pad to 80
        "| 08 01 67 00 02 73 75 00" + // @80 SIGNATURE, header ends at 88 (already 8-aligned)
        "| 01 00 00 00 78 00 | 00 00 | 05 00 00 00"; // @88 body: s "x", pad, u 5

    // ERROR serial 2: ERROR_NAME "e.F", REPLY_SERIAL 7, SIGNATURE "s"; body "no".
    private const string Error =
        "6c 03 00 01 | 07 00 00 00 | 02 00 00 00 | 1f 00 00 00" +
        "| 04 01 73 00 03 00 00 00 65 2e 46 00 | 00 00 00 00" + // @16 ERROR_NAME, pad to 32
        "| 05 01 75 00 07 00 00 00" + // @32 REPLY_SERIAL
        "| 08 01 67 00 01 73 00 | 00" + // @40 SIGNATURE ends at 47, pad to 48
        "| 02 00 00 00 6e 6f 00"; // @48 body

    // Big-endian SIGNAL serial 9: PATH "/s", INTERFACE "i.f", MEMBER "S", SIGNATURE "u"; body 0x0a0b0c0d.
    private const string BigEndianSignal =
        "42 04 00 01 | 00 00 00 04 | 00 00 00 09 | 00 00 00 37" +
        "| 01 01 6f 00 00 00 00 02 2f 73 00 | 00 00 00 00 00" +
        "| 02 01 73 00 00 00 00 03 69 2e 66 00 | 00 00 00 00" +
        "| 03 01 73 00 00 00 00 01 53 00 | 00 00 00 00 00 00" +
        "| 08 01 67 00 01 75 00 | 00" +
        "| 0a 0b 0c 0d";

    [Fact]
    public void Method_call_is_written_byte_exact()
    {
        var message = DBusMessage.MethodCall("d.e", "/a", "b.c", "M", new DBusString("x"), new DBusUInt32(5)) with { Serial = 7 };
        Assert.Equal(Hex.Of(Hex.Bytes(MethodCall)), Hex.Of(DBusMessageWriter.Write(message)));
    }

    [Fact]
    public void Method_call_is_read_back_with_every_field()
    {
        var message = DBusMessageReader.Read(Hex.Bytes(MethodCall));
        Assert.Equal(DBusMessageType.MethodCall, message.Type);
        Assert.Equal(7u, message.Serial);
        Assert.Equal(("/a", "b.c", "M", "d.e"), (message.Path, message.Interface, message.Member, message.Destination));
        Assert.Equal("su", message.Signature);
        Assert.Equal("x", message.Body[0].AsString());
        Assert.Equal(5u, message.Body[1].AsUInt32());
    }

    [Fact]
    public void Error_is_written_and_read_byte_exact()
    {
        var error = new DBusMessage { Type = DBusMessageType.Error, Serial = 2, ErrorName = "e.F", ReplySerial = 7, Body = [new DBusString("no")] };
        Assert.Equal(Hex.Of(Hex.Bytes(Error)), Hex.Of(DBusMessageWriter.Write(error)));
        var read = DBusMessageReader.Read(Hex.Bytes(Error));
        var exception = DBusErrorException.FromReply(read);
        Assert.Equal(("e.F", "no", 7u), (exception.ErrorName, exception.ErrorMessage, read.ReplySerial!.Value));
    }

    [Fact]
    public void Big_endian_signal_is_read()
    {
        var signal = DBusMessageReader.Read(Hex.Bytes(BigEndianSignal));
        Assert.Equal(DBusMessageType.Signal, signal.Type);
        Assert.Equal(9u, signal.Serial);
        Assert.Equal(("/s", "i.f", "S"), (signal.Path, signal.Interface, signal.Member));
        Assert.Equal(0x0a0b0c0du, Assert.Single(signal.Body).AsUInt32());
    }

    [Fact]
    public void Signal_round_trips_through_writer_and_reader()
    {
        var body = new DBusValue[] { new DBusString("iface"), new DBusArray("{sv}", [new DBusDictEntry(new DBusString("ActiveState"), new DBusVariant(new DBusString("active")))]), DBusArray.OfStrings([]) };
        var bytes = DBusMessageWriter.Write(DBusMessage.Signal("/x", "org.freedesktop.DBus.Properties", "PropertiesChanged", body) with { Serial = 3 });
        var read = DBusMessageReader.Read(bytes);
        Assert.Equal("sa{sv}as", read.Signature);
        Assert.Equal("active", read.Body[1].AsStringDictionary()["ActiveState"].AsVariant().AsString());
        Assert.Equal(Hex.Of(bytes), Hex.Of(DBusMessageWriter.Write(read)));
    }

    [Theory]
    [InlineData(0, "51", "endianness byte is 0x51")]
    [InlineData(3, "02", "protocol version is 2")]
    [InlineData(8, "00", "serial is 0")]
    [InlineData(12, "47", "overrun the declared length")]
    [InlineData(12, "ff", "header announces 284")]
    [InlineData(16, "04", "has type 'o', expected 's'")]
    [InlineData(18, "7a", "not a valid type code")]
    [InlineData(81, "02", "not NUL-terminated")]
    [InlineData(85, "79", "beyond its signature")]
    public void Corrupted_method_call_is_a_protocol_error(int offset, string replacement, string expected)
    {
        var bytes = Hex.Bytes(MethodCall);
        bytes[offset] = Hex.Bytes(replacement)[0];

        var error = Assert.Throws<DBusProtocolException>(() => DBusMessageReader.Read(bytes));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Method_call_without_member_is_refused()
    {
        var bytes = DBusMessageWriter.Write(DBusMessage.Signal("/a", "b.c", "M") with { Serial = 1 });
        bytes[1] = (byte)DBusMessageType.Error;
        var error = Assert.Throws<DBusProtocolException>(() => DBusMessageReader.Read(bytes));
        Assert.Contains("lacks the required ERROR_NAME", error.Message);
    }

    [Fact]
    public void Announced_length_over_128_MiB_is_refused_from_the_fixed_header_alone()
    {
        var header = Hex.Bytes("6c 01 00 01 | 00 00 00 08 | 01 00 00 00 | 10 00 00 00");
        var error = Assert.Throws<DBusProtocolException>(() => DBusMessageReader.GetMessageLength(header));
        Assert.Contains("exceeds the 134217728-byte limit", error.Message);
    }

    [Fact]
    public void Header_array_over_64_MiB_is_refused_from_the_fixed_header_alone()
    {
        var header = Hex.Bytes("6c 01 00 01 | 00 00 00 00 | 01 00 00 00 | 00 00 00 05");
        Assert.Throws<DBusProtocolException>(() => DBusMessageReader.GetMessageLength(header));
    }

    [Fact]
    public void Claimed_unix_fds_are_refused()
    {
        var bytes = DBusMessageWriter.Write(DBusMessage.Signal("/a", "b.c", "M") with { Serial = 1, UnixFds = 1 });
        var error = Assert.Throws<DBusProtocolException>(() => DBusMessageReader.Read(bytes));
        Assert.Contains("unix fds", error.Message);
    }

    [Fact]
    public void Writer_refuses_serial_zero_and_missing_fields()
    {
        Assert.Throws<ArgumentException>(() => DBusMessageWriter.Write(DBusMessage.MethodCall(null, "/a", "b.c", "M")));
        Assert.Throws<ArgumentException>(() => DBusMessageWriter.Write(new DBusMessage { Type = DBusMessageType.Error, Serial = 1, ReplySerial = 1 }));
    }
}
