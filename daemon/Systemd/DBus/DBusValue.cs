namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// A D-Bus value that knows its own type signature. Build arguments from the concrete records
/// (<see cref="DBusString"/>, <see cref="DBusArray"/>, <see cref="DBusVariant"/>, …); read replies with the
/// <c>As…</c> accessors, which throw <see cref="DBusProtocolException"/> when the peer sent another type.
/// </summary>
internal abstract record DBusValue
{
    public abstract string Signature { get; }

    public byte AsByte() => As<DBusByte>("y").Value;

    public bool AsBoolean() => As<DBusBoolean>("b").Value;

    public short AsInt16() => As<DBusInt16>("n").Value;

    public ushort AsUInt16() => As<DBusUInt16>("q").Value;

    public int AsInt32() => As<DBusInt32>("i").Value;

    public uint AsUInt32() => As<DBusUInt32>("u").Value;

    public long AsInt64() => As<DBusInt64>("x").Value;

    public ulong AsUInt64() => As<DBusUInt64>("t").Value;

    public double AsDouble() => As<DBusDouble>("d").Value;

    public string AsString() => As<DBusString>("s").Value;

    public string AsObjectPath() => As<DBusObjectPath>("o").Value;

    public string AsSignature() => As<DBusSignatureValue>("g").Value;

    /// <summary>The inner value of a variant.</summary>
    public DBusValue AsVariant() => As<DBusVariant>("v").Value;

    public IReadOnlyList<DBusValue> AsStruct() => As<DBusStruct>("(…)").Fields;

    /// <summary>The elements of any array (an <c>ay</c> read from the wire yields <see cref="DBusByte"/> elements here).</summary>
    public IReadOnlyList<DBusValue> AsArray() => this switch
    {
        DBusArray array => array.Items,
        DBusByteArray bytes => bytes.Value.ToArray().Select(b => (DBusValue)new DBusByte(b)).ToList(),
        _ => throw Mismatch("a…"),
    };

    public byte[] AsBytes() => this switch
    {
        DBusByteArray bytes => bytes.Value.ToArray(),
        DBusArray { ElementSignature: "y" } array => array.Items.Select(i => i.AsByte()).ToArray(),
        _ => throw Mismatch("ay"),
    };

    public IReadOnlyList<string> AsStringArray() => AsArray().Select(i => i.AsString()).ToList();

    /// <summary>An <c>a{s…}</c> dictionary keyed by string; a later duplicate key wins.</summary>
    public IReadOnlyDictionary<string, DBusValue> AsStringDictionary()
    {
        var result = new Dictionary<string, DBusValue>(StringComparer.Ordinal);
        foreach (var item in AsArray())
        {
            var entry = item as DBusDictEntry ?? throw item.Mismatch("{s…}");
            result[entry.Key.AsString()] = entry.Value;
        }

        return result;
    }

    private T As<T>(string expected)
        where T : DBusValue => this as T ?? throw Mismatch(expected);

    private DBusProtocolException Mismatch(string expected) => new($"expected a D-Bus value of type '{expected}' but got '{Signature}'");
}
