using UnifiedLlm.Daemon.Systemd.DBus;

namespace UnifiedLlm.Tests.DBus;

public sealed class MatchRuleTests
{
    private static readonly DBusMessage JobRemoved = DBusMessage.Signal(
        "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "JobRemoved",
        new DBusUInt32(1), new DBusObjectPath("/j/1"), new DBusString("a.service"), new DBusString("done")) with
    { Sender = ":1.7" };

    [Fact]
    public void Bus_syntax_lists_the_set_keys_and_escapes_quotes()
    {
        Assert.Equal(
            "type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'",
            new MatchRule("org.freedesktop.systemd1", "/org/freedesktop/systemd1", Interface: "org.freedesktop.systemd1.Manager", Member: "JobRemoved").ToString());
        Assert.Equal("type='signal',arg0='it'\\''s'", new MatchRule(Arg0: "it's").ToString());
    }

    [Fact]
    public void Well_known_sender_matches_only_its_current_owner()
    {
        var rule = new MatchRule(Sender: "org.freedesktop.systemd1", Member: "JobRemoved");
        Assert.True(rule.Matches(JobRemoved, senderOwner: ":1.7"));
        Assert.False(rule.Matches(JobRemoved, senderOwner: ":1.8"));
        Assert.False(rule.Matches(JobRemoved, senderOwner: null));
    }

    [Fact]
    public void Peer_to_peer_signals_without_sender_match_a_sender_rule()
    {
        Assert.True(new MatchRule(Sender: "org.freedesktop.systemd1").Matches(JobRemoved with { Sender = null }, senderOwner: null));
    }

    [Fact]
    public void Path_namespace_interface_member_and_arg0_filter()
    {
        Assert.True(new MatchRule(PathNamespace: "/org/freedesktop").Matches(JobRemoved, null));
        Assert.False(new MatchRule(PathNamespace: "/org/free").Matches(JobRemoved, null));
        Assert.False(new MatchRule(Path: "/org").Matches(JobRemoved, null));
        Assert.False(new MatchRule(Interface: "x.y").Matches(JobRemoved, null));
        Assert.False(new MatchRule(Member: "UnitNew").Matches(JobRemoved, null));
        Assert.False(new MatchRule(Arg0: "x").Matches(JobRemoved, null));
        Assert.False(new MatchRule().Matches(JobRemoved with { Type = DBusMessageType.MethodCall }, null));
    }
}
