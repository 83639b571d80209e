using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

public sealed class DBusSignatureTests
{
    [Theory]
    [InlineData("", 0)]
    [InlineData("y", 1)]
    [InlineData("ssa(sv)a(sa(sv))", 4)]
    [InlineData("a(ssssssouso)", 1)]
    [InlineData("a{sv}as", 2)]
    [InlineData("a{oa{sa{sv}}}", 1)]
    [InlineData("aay", 1)]
    [InlineData("a(sasas)", 1)]
    public void Valid_signatures_parse_into_complete_types(string signature, int count)
    {
        var types = DBusSignature.Parse(signature);
        Assert.Equal(count, types.Count);
        Assert.Equal(signature, string.Concat(types.Select(t => t.Signature)));
    }

    [Theory]
    [InlineData("a", "array has no element type")]
    [InlineData("(", "is never closed")]
    [InlineData("(i", "is never closed")]
    [InlineData("()", "empty struct")]
    [InlineData(")", "not a valid type code")]
    [InlineData("(i}", "unexpected '}'")]
    [InlineData("{su}", "dict entry outside an array")]
    [InlineData("a({su})", "dict entry outside an array")]
    [InlineData("a{vs}", "key is not a basic type")]
    [InlineData("a{s}", "needs exactly 2")]
    [InlineData("a{sss}", "needs exactly 2")]
    [InlineData("z", "'z' is not a valid type code")]
    [InlineData("r", "'r' is not a valid type code")]
    [InlineData("ai)", "not a valid type code")]
    public void Invalid_signatures_name_the_problem(string signature, string expected)
    {
        var error = Assert.Throws<DBusProtocolException>(() => DBusSignature.Parse(signature));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Nesting_limits_are_32_arrays_and_32_structs()
    {
        DBusSignature.Parse(new string('a', 32) + "y");
        DBusSignature.Parse(new string('(', 32) + "y" + new string(')', 32));
        Assert.Contains("arrays nested deeper than 32", Assert.Throws<DBusProtocolException>(() => DBusSignature.Parse(new string('a', 33) + "y")).Message);
        Assert.Contains("structs nested deeper than 32", Assert.Throws<DBusProtocolException>(() => DBusSignature.Parse(new string('(', 33) + "y" + new string(')', 33))).Message);
    }

    [Fact]
    public void Length_limit_is_255()
    {
        DBusSignature.Parse(new string('y', 255));
        Assert.Contains("longer than 255", Assert.Throws<DBusProtocolException>(() => DBusSignature.Parse(new string('y', 256))).Message);
    }

    [Fact]
    public void Single_type_is_required_where_the_spec_requires_one()
    {
        Assert.Equal('a', DBusSignature.ParseSingle("a{sv}").Code);
        Assert.Contains("exactly one complete type", Assert.Throws<DBusProtocolException>(() => DBusSignature.ParseSingle("ss")).Message);
    }
}
