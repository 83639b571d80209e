using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

/// <summary>Byte-exact little-endian marshalling, expected bytes written by hand from the specification.</summary>
public sealed class DBusWriterTests
{
    [Theory]
    [MemberData(nameof(BasicVectors))]
    public void Basic_value_has_exact_bytes(string name, object value, string expected)
    {
        var writer = new DBusWriter();
        writer.WriteValue((DBusValue)value);
        Assert.True(Hex.Of(writer.WrittenSpan) == Hex.Of(Hex.Bytes(expected)), name);
    }

    public static TheoryData<string, object, string> BasicVectors() => new()
    {
        { "y", new DBusByte(0x2a), "2a" },
        { "b true", new DBusBoolean(true), "01 00 00 00" },
        { "b false", new DBusBoolean(false), "00 00 00 00" },
        { "n -2", new DBusInt16(-2), "fe ff" },
        { "q", new DBusUInt16(0x1234), "34 12" },
        { "i -1", new DBusInt32(-1), "ff ff ff ff" },
        { "u", new DBusUInt32(0x12345678), "78 56 34 12" },
        { "x -2", new DBusInt64(-2), "fe ff ff ff ff ff ff ff" },
        { "t", new DBusUInt64(0x0102030405060708), "08 07 06 05 04 03 02 01" },
        { "d 1.0", new DBusDouble(1.0), "00 00 00 00 00 00 f0 3f" },
        { "s", new DBusString("abc"), "03 00 00 00 | 61 62 63 00" },
        { "s empty", new DBusString(""), "00 00 00 00 | 00" },
        { "s utf8", new DBusString("é"), "02 00 00 00 | c3 a9 00" },
        { "o", new DBusObjectPath("/a"), "02 00 00 00 | 2f 61 00" },
        { "g", new DBusSignatureValue("ai"), "02 | 61 69 00" },
    };

    [Theory]
    [InlineData("n", "01 | 00 | fe ff")]
    [InlineData("u", "01 | 00 00 00 | 02 00 00 00")]
    [InlineData("t", "01 | 00 00 00 00 00 00 00 | 02 00 00 00 00 00 00 00")]
    [InlineData("s", "01 | 00 00 00 | 01 00 00 00 78 00")]
    [InlineData("g", "01 | 01 75 00")]
    public void Values_after_a_byte_are_padded_to_their_alignment(string code, string expected)
    {
        var writer = new DBusWriter();
        writer.WriteByte(1);
        writer.WriteValue(code switch
        {
            "n" => new DBusInt16(-2),
            "u" => new DBusUInt32(2),
            "t" => new DBusUInt64(2),
            "s" => new DBusString("x"),
            _ => new DBusSignatureValue("u"),
        });
        Assert.Equal(Hex.Of(Hex.Bytes(expected)), Hex.Of(writer.WrittenSpan));
    }

    [Fact]
    public void Array_of_u32_has_byte_length_then_elements()
    {
        var writer = new DBusWriter();
        writer.WriteValue(new DBusArray("u", [new DBusUInt32(1), new DBusUInt32(2)]));
        Assert.Equal(Hex.Of(Hex.Bytes("08 00 00 00 | 01 00 00 00 | 02 00 00 00")), Hex.Of(writer.WrittenSpan));
    }

    [Fact]
    public void Array_length_excludes_the_padding_to_8_byte_elements()
    {
        var writer = new DBusWriter();
        writer.WriteValue(new DBusArray("t", [new DBusUInt64(1)]));
        Assert.Equal(Hex.Of(Hex.Bytes("08 00 00 00 | 00 00 00 00 | 01 00 00 00 00 00 00 00")), Hex.Of(writer.WrittenSpan));
    }

    [Fact]
    public void Empty_array_still_pads_to_its_element_alignment()
    {
        var writer = new DBusWriter();
        writer.WriteValue(new DBusArray("(ss)", []));
        Assert.Equal(Hex.Of(Hex.Bytes("00 00 00 00 | 00 00 00 00")), Hex.Of(writer.WrittenSpan));
    }

    [Fact]
    public void Byte_array_is_length_then_raw_bytes()
    {
        var writer = new DBusWriter();
        writer.WriteValue(new DBusByteArray(new byte[] { 1, 2, 3 }));
        Assert.Equal(Hex.Of(Hex.Bytes("03 00 00 00 | 01 02 03")), Hex.Of(writer.WrittenSpan));
    }

    [Fact]
    public void Struct_is_aligned_to_8_and_fields_keep_their_own_alignment()
    {
        var writer = new DBusWriter();
        writer.WriteByte(1);
        writer.WriteValue(new DBusStruct(new DBusByte(5), new DBusUInt32(6)));
        Assert.Equal(Hex.Of(Hex.Bytes("01 | 00 00 00 00 00 00 00 | 05 | 00 00 00 | 06 00 00 00")), Hex.Of(writer.WrittenSpan));
    }

    [Fact]
    public void Dictionary_a_sv_entry_with_variant()
    {
        var writer = new DBusWriter();
        writer.WriteValue(new DBusArray("{sv}", [new DBusDictEntry(new DBusString("k"), new DBusVariant(new DBusUInt32(7)))]));
        Assert.Equal(
            Hex.Of(Hex.Bytes("10 00 00 00 | 00 00 00 00 | 01 00 00 00 6b 00 | 01 75 00 | 00 00 00 | 07 00 00 00")),
            Hex.Of(writer.WrittenSpan));
    }

    [Fact]
    public void Variant_of_byte_array_is_signature_then_array()
    {
        var writer = new DBusWriter();
        writer.WriteValue(new DBusVariant(new DBusByteArray(new byte[] { 1, 2, 3 })));
        Assert.Equal(Hex.Of(Hex.Bytes("02 61 79 00 | 03 00 00 00 | 01 02 03")), Hex.Of(writer.WrittenSpan));
    }

    [Fact]
    public void Systemd_property_struct_sv_with_array_of_strings()
    {
        var writer = new DBusWriter();
        writer.WriteValue(new DBusArray("(sv)", [new DBusStruct(new DBusString("E"), new DBusVariant(DBusArray.OfStrings(["A=1"])))]));
        Assert.Equal(
            Hex.Of(Hex.Bytes(
                "18 00 00 00 | 00 00 00 00 | 01 00 00 00 45 00 | 02 61 73 00 | 00 00 | 08 00 00 00 | 03 00 00 00 41 3d 31 00")),
            Hex.Of(writer.WrittenSpan));
    }

    [Fact]
    public void Array_elements_must_match_the_declared_element_signature()
    {
        var error = Assert.Throws<ArgumentException>(() => new DBusArray("u", [new DBusString("x")]));
        Assert.Contains("element 0", error.Message);
    }

    [Fact]
    public void Dict_entry_key_must_be_basic()
    {
        Assert.Throws<ArgumentException>(() => new DBusDictEntry(new DBusVariant(new DBusByte(1)), new DBusByte(1)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a")]
    [InlineData("/a/")]
    [InlineData("//a")]
    [InlineData("/a-b")]
    [InlineData("a/b")]
    public void Invalid_object_paths_are_refused(string path)
    {
        Assert.Throws<ArgumentException>(() => new DBusObjectPath(path));
    }
}
