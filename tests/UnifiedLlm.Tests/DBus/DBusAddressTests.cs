using System.Text;
using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

public sealed class DBusAddressTests
{
    [Fact]
    public void Parses_several_addresses_in_order_with_escapes()
    {
        var addresses = DBusAddress.ParseList("unix:path=/tmp/a%20b%2c;unix:abstract=bus,guid=0123456789abcdef0123456789abcdef;tcp:host=x,port=1");
        Assert.Equal(3, addresses.Count);
        Assert.Equal(("unix", "/tmp/a b,"), (addresses[0].Transport, addresses[0].Properties["path"]));
        Assert.Equal("bus", addresses[1].Properties["abstract"]);
        Assert.Equal("0123456789abcdef0123456789abcdef", addresses[1].Guid);
        Assert.Equal("tcp", addresses[2].Transport);
    }

    [Fact]
    public void Unix_path_and_abstract_map_to_socket_endpoints()
    {
        Assert.Equal("/run/x", DBusAddress.ParseList("unix:path=/run/x")[0].ToEndPoint().ToString());
        var abstractEndPoint = DBusAddress.ParseList("unix:abstract=name")[0].ToEndPoint().Serialize();
        Assert.Equal((byte)0, abstractEndPoint[2]);
        Assert.Equal("name", Encoding.ASCII.GetString(Enumerable.Range(3, 4).Select(i => abstractEndPoint[i]).ToArray()));
    }

    [Theory]
    [InlineData("nocolon", "no \"transport:\" prefix")]
    [InlineData("unix:path", "is not key=value")]
    [InlineData("unix:path=%zz", "bad %-escape")]
    [InlineData("unix:path=%4", "bad %-escape")]
    [InlineData("unix:path=a,path=b", "appears twice")]
    [InlineData("", "empty D-Bus address")]
    public void Malformed_addresses_name_the_problem(string address, string expected)
    {
        Assert.Contains(expected, Assert.Throws<FormatException>(() => DBusAddress.ParseList(address)).Message);
    }

    [Theory]
    [InlineData("tcp:host=x", "transport \"tcp\" is not supported")]
    [InlineData("unix:tmpdir=/tmp", "needs path= or abstract=")]
    [InlineData("unix:path=/a,abstract=b", "both path= and abstract=")]
    public void Unusable_addresses_say_why(string address, string expected)
    {
        Assert.Contains(expected, Assert.Throws<NotSupportedException>(() => DBusAddress.ParseList(address)[0].ToEndPoint()).Message);
    }
}
