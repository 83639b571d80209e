using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

/// <summary>Unmarshalling in both byte orders, and the typed errors for malformed input.</summary>
public sealed class DBusReaderTests
{
    private static DBusValue Read(string signature, string hex, bool bigEndian = false) =>
        new DBusReader(Hex.Bytes(hex), bigEndian).ReadValue(DBusSignature.ParseSingle(signature));

    [Theory]
    [InlineData("y", "2a", "2a", false)]
    [InlineData("n", "fe ff", "ff fe", true)]
    [InlineData("q", "34 12", "12 34", true)]
    [InlineData("u", "78 56 34 12", "12 34 56 78", true)]
    [InlineData("t", "08 07 06 05 04 03 02 01", "01 02 03 04 05 06 07 08", true)]
    [InlineData("d", "00 00 00 00 00 00 f0 3f", "3f f0 00 00 00 00 00 00", true)]
    [InlineData("s", "03 00 00 00 61 62 63 00", "00 00 00 03 61 62 63 00", true)]
    public void Little_and_big_endian_encodings_read_the_same_value(string signature, string littleEndian, string bigEndian, bool _)
    {
        Assert.Equal(Read(signature, littleEndian), Read(signature, bigEndian, bigEndian: true));
    }

    [Fact]
    public void Reads_each_basic_type()
    {
        Assert.True(Read("b", "01 00 00 00").AsBoolean());
        Assert.Equal(-2, Read("n", "fe ff").AsInt16());
        Assert.Equal(-1, Read("i", "ff ff ff ff").AsInt32());
        Assert.Equal(-2L, Read("x", "fe ff ff ff ff ff ff ff").AsInt64());
        Assert.Equal(0x0102030405060708UL, Read("t", "08 07 06 05 04 03 02 01").AsUInt64());
        Assert.Equal(1.0, Read("d", "00 00 00 00 00 00 f0 3f").AsDouble());
        Assert.Equal("/a", Read("o", "02 00 00 00 2f 61 00").AsObjectPath());
        Assert.Equal("ai", Read("g", "02 61 69 00").AsSignature());
    }

    [Fact]
    public void Reads_big_endian_array_of_u64_with_padding()
    {
        var items = Read("at", "00 00 00 10 | 00 00 00 00 | 00 00 00 00 00 00 00 01 | 00 00 00 00 00 00 00 02", bigEndian: true).AsArray();
        Assert.Equal([1UL, 2UL], items.Select(i => i.AsUInt64()));
    }

    [Fact]
    public void Reads_a_sv_dictionary_with_variant()
    {
        var dict = Read("a{sv}", "10 00 00 00 | 00 00 00 00 | 01 00 00 00 6b 00 | 01 75 00 | 00 00 00 | 07 00 00 00").AsStringDictionary();
        Assert.Equal(7u, dict["k"].AsVariant().AsUInt32());
    }

    [Fact]
    public void Reads_byte_array_as_bytes()
    {
        Assert.Equal(new byte[] { 1, 2, 3 }, Read("ay", "03 00 00 00 01 02 03").AsBytes());
    }

    [Fact]
    public void Reads_a_systemd_ListUnits_row()
    {
        var row = new DBusStruct(
            new DBusString("a.service"), new DBusString("d"), new DBusString("loaded"), new DBusString("active"),
            new DBusString("running"), new DBusString(""), new DBusObjectPath("/u"), new DBusUInt32(3),
            new DBusString("start"), new DBusObjectPath("/j"));
        var writer = new DBusWriter();
        writer.WriteValue(new DBusArray(row.Signature, [row]));
        var read = new DBusReader(writer.ToArray(), bigEndian: false).ReadValue(DBusSignature.ParseSingle("a(ssssssouso)")).AsArray();
        var fields = Assert.Single(read).AsStruct();
        Assert.Equal("a.service", fields[0].AsString());
        Assert.Equal("/u", fields[6].AsObjectPath());
        Assert.Equal(3u, fields[7].AsUInt32());
        Assert.Equal("/j", fields[9].AsObjectPath());
    }

    [Theory]
    [InlineData("b", "02 00 00 00", "boolean must be 0 or 1")]
    [InlineData("s", "03 00 00 00 61 62 63 01", "not NUL-terminated")]
    [InlineData("s", "03 00 00 00 61 00 63 00", "contains NUL")]
    [InlineData("s", "02 00 00 00 c3 28 00", "not valid UTF-8")]
    [InlineData("s", "ff ff ff 7f 61 00", "truncated")]
    [InlineData("o", "02 00 00 00 61 62 00", "invalid object path")]
    [InlineData("g", "01 7a 00", "not a valid type code")]
    [InlineData("u", "01 02", "truncated")]
    [InlineData("au", "00 00 00 05 | 00", "exceeds the 67108864-byte limit")]
    [InlineData("au", "08 00 00 00 | 01 00 00 00", "truncated")]
    [InlineData("at", "08 00 00 00 | 01 00 00 00 | 01 00 00 00 00 00 00 00", "non-zero alignment padding")]
    [InlineData("a(yy)", "03 00 00 00 | 00 00 00 00 | 01 02", "truncated")]
    [InlineData("ay", "05 00 00 00 | 01 02", "truncated")]
    [InlineData("an", "03 00 00 00 | 01 00 02 00", "overrun the declared length")]
    [InlineData("v", "02 75 75 00 | 01 00 00 00", "not exactly one complete type")]
    [InlineData("h", "00 00 00 00", "not supported")]
    public void Malformed_input_is_a_protocol_error_naming_the_problem(string signature, string hex, string expected)
    {
        var error = Assert.Throws<DBusProtocolException>(() => Read(signature, hex));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Variants_nested_beyond_the_depth_limit_are_refused()
    {
        var writer = new DBusWriter();
        DBusValue value = new DBusByte(1);
        for (var i = 0; i < 70; i++)
        {
            value = new DBusVariant(value);
        }

        writer.WriteValue(value);
        var error = Assert.Throws<DBusProtocolException>(() => new DBusReader(writer.ToArray(), false).ReadValue(DBusSignature.ParseSingle("v")));
        Assert.Contains("nested deeper than 64", error.Message);
    }

    [Fact]
    public void Accessor_of_the_wrong_type_is_a_protocol_error()
    {
        var error = Assert.Throws<DBusProtocolException>(() => new DBusString("x").AsUInt32());
        Assert.Contains("expected a D-Bus value of type 'u' but got 's'", error.Message);
    }
}
