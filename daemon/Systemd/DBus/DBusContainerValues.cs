namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>An array whose elements all have <see cref="ElementSignature"/> (given explicitly, so empty arrays are typed).</summary>
internal sealed record DBusArray : DBusValue
{
    public DBusArray(string elementSignature, IReadOnlyList<DBusValue> items)
    {
        DBusSignature.ParseSingle("a" + elementSignature);
        ArgumentNullException.ThrowIfNull(items);
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i].Signature != elementSignature)
            {
                throw new ArgumentException($"array of '{elementSignature}' has an element {i} of type '{items[i].Signature}'", nameof(items));
            }
        }

        ElementSignature = elementSignature;
        Items = items;
        Signature = "a" + elementSignature;
    }

    public string ElementSignature { get; }

    public IReadOnlyList<DBusValue> Items { get; }

    public override string Signature { get; }

    public static DBusArray OfStrings(IEnumerable<string> values) => new("s", values.Select(v => (DBusValue)new DBusString(v)).ToList());
}

/// <summary>An <c>ay</c> held as bytes (the reader produces this for every <c>ay</c>, so a large one costs one allocation).</summary>
internal sealed record DBusByteArray(ReadOnlyMemory<byte> Value) : DBusValue
{
    public override string Signature => "ay";
}

internal sealed record DBusStruct : DBusValue
{
    public DBusStruct(params IReadOnlyList<DBusValue> fields)
    {
        if (fields.Count == 0)
        {
            throw new ArgumentException("a D-Bus struct needs at least one field", nameof(fields));
        }

        Fields = fields;
        Signature = "(" + string.Concat(fields.Select(f => f.Signature)) + ")";
    }

    public IReadOnlyList<DBusValue> Fields { get; }

    public override string Signature { get; }
}

/// <summary>A key/value pair; only valid as the element of an array (<c>a{kv}</c>), with a basic-typed key.</summary>
internal sealed record DBusDictEntry : DBusValue
{
    public DBusDictEntry(DBusValue key, DBusValue value)
    {
        if (key.Signature.Length != 1 || !DBusType.IsBasicCode(key.Signature[0]))
        {
            throw new ArgumentException($"a dict entry key must be a basic type, not '{key.Signature}'", nameof(key));
        }

        Key = key;
        Value = value;
        Signature = "{" + key.Signature + value.Signature + "}";
    }

    public DBusValue Key { get; }

    public DBusValue Value { get; }

    public override string Signature { get; }
}

/// <summary>A value tagged with its own signature on the wire (<c>v</c>).</summary>
internal sealed record DBusVariant(DBusValue Value) : DBusValue
{
    public override string Signature => "v";
}
