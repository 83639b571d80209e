namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>The key/value section of a GGUF file, in file order, with typed accessors that report type mismatches with the key's offset.</summary>
internal sealed class GgufMetadata
{
    private readonly Dictionary<string, GgufMetadataEntry> _byKey;

    public GgufMetadata(string source, IReadOnlyList<GgufMetadataEntry> entries)
    {
        Source = source;
        Entries = entries;
        _byKey = new Dictionary<string, GgufMetadataEntry>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (!_byKey.TryAdd(entry.Key, entry))
            {
                throw new GgufFormatException(source, entry.Offset, $"duplicate metadata key '{entry.Key}'");
            }
        }
    }

    public string Source { get; }

    public IReadOnlyList<GgufMetadataEntry> Entries { get; }

    public bool Contains(string key) => _byKey.ContainsKey(key);

    public GgufValue? Find(string key) => _byKey.TryGetValue(key, out var entry) ? entry.Value : null;

    public string? GetString(string key) =>
        Get(key, v => v.Value as string, "a string");

    public bool? GetBool(string key) =>
        Get(key, v => v.Value is bool b ? b : (bool?)null, "a bool");

    /// <summary>A non-negative integer of any width.</summary>
    public ulong? GetUInt64(string key) =>
        Get(key, AsNonNegative, "a non-negative integer");

    public double? GetNumber(string key) =>
        Get(key, v => v.AsNumber(), "a number");

    public GgufArray? GetArray(string key) =>
        Get(key, v => v.Value as GgufArray, "an array");

    /// <summary>
    /// A per-layer integer: either a scalar (same for every layer) or an array of <paramref name="layerCount"/> integers.
    /// Null when the key is absent.
    /// </summary>
    public ulong[]? GetPerLayer(string key, int layerCount)
    {
        if (!_byKey.TryGetValue(key, out var entry))
        {
            return null;
        }

        if (entry.Value.Value is GgufArray array)
        {
            var items = array.AsIntegers();
            if (items is null || items.Any(i => i < 0))
            {
                throw Mismatch(entry, "an array of non-negative integers");
            }

            if (items.Length != layerCount)
            {
                throw new GgufFormatException(Source, entry.Offset, $"'{key}' has {items.Length} entries but the model has {layerCount} layers");
            }

            return items.Select(i => (ulong)i).ToArray();
        }

        var scalar = GetUInt64(key)!.Value;
        return Enumerable.Repeat(scalar, layerCount).ToArray();
    }

    private static ulong? AsNonNegative(GgufValue value) => value.Value switch
    {
        ulong u => u,
        _ => value.AsInteger() is long i && i >= 0 ? (ulong)i : null,
    };

    private T? Get<T>(string key, Func<GgufValue, T?> convert, string expected)
    {
        if (!_byKey.TryGetValue(key, out var entry))
        {
            return default;
        }

        return convert(entry.Value) ?? throw Mismatch(entry, expected);
    }

    private GgufFormatException Mismatch(GgufMetadataEntry entry, string expected) =>
        new(Source, entry.Offset, $"metadata '{entry.Key}' is {entry.Value.Type}, expected {expected}");
}
