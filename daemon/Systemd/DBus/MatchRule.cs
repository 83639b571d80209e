namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// A signal match rule: the string form is sent to the bus with AddMatch, and <see cref="Matches"/> filters
/// delivered signals locally (several subscriptions share one connection).
/// </summary>
internal sealed record MatchRule(
    string? Sender = null,
    string? Path = null,
    string? PathNamespace = null,
    string? Interface = null,
    string? Member = null,
    string? Arg0 = null)
{
    /// <summary>
    /// True when <paramref name="signal"/> fits every constraint. <paramref name="senderOwner"/> is the unique
    /// name currently owning a well-known <see cref="Sender"/>; on a peer-to-peer connection (no SENDER field)
    /// the only possible sender is the peer, so the sender constraint is satisfied.
    /// </summary>
    public bool Matches(DBusMessage signal, string? senderOwner)
    {
        if (signal.Type != DBusMessageType.Signal)
        {
            return false;
        }

        if (Sender is not null && signal.Sender is not null && signal.Sender != Sender && signal.Sender != senderOwner)
        {
            return false;
        }

        if (Path is not null && signal.Path != Path)
        {
            return false;
        }

        if (PathNamespace is not null && !IsInNamespace(signal.Path, PathNamespace))
        {
            return false;
        }

        if (Interface is not null && signal.Interface != Interface)
        {
            return false;
        }

        if (Member is not null && signal.Member != Member)
        {
            return false;
        }

        return Arg0 is null || (signal.Body.Count > 0 && signal.Body[0] is DBusString s && s.Value == Arg0);
    }

    /// <summary>The bus syntax: <c>type='signal',sender='…',…</c> with <c>'</c> escaped as <c>'\''</c>.</summary>
    public override string ToString()
    {
        var parts = new List<string> { "type='signal'" };
        void Add(string key, string? value)
        {
            if (value is not null)
            {
                parts.Add($"{key}='{value.Replace("'", "'\\''", StringComparison.Ordinal)}'");
            }
        }

        Add("sender", Sender);
        Add("path", Path);
        Add("path_namespace", PathNamespace);
        Add("interface", Interface);
        Add("member", Member);
        Add("arg0", Arg0);
        return string.Join(",", parts);
    }

    private static bool IsInNamespace(string? path, string ns) =>
        path is not null && (path == ns || ns == "/" || path.StartsWith(ns + "/", StringComparison.Ordinal));
}
