using Tomlyn.Model;
using Tomlyn.Serialization;
using Tomlyn.Syntax;

namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// Typed, located reads from one TOML table. Every read records the key as known, so that
/// <see cref="RejectUnknownKeys"/> can report the rest with a suggestion; every problem is reported with the
/// key's file:line:column and dotted path, and reading goes on so that one run shows all errors. With a list of
/// <see cref="TableKeys"/>, each table that rejects unknown keys also adds the keys it accepted to it.
/// </summary>
internal sealed partial class TomlSection
{
    private readonly TomlTable table;
    private readonly TomlMetadataStore metadata;
    private readonly List<ConfigError> errors;
    private readonly string file;
    private readonly SourceSpan? span;
    private readonly HashSet<string> known = new(StringComparer.Ordinal);
    private readonly HashSet<string> entries = new(StringComparer.Ordinal);
    private readonly List<TableKeys>? accepted;

    /// <summary>The top-level table of a file.</summary>
    public TomlSection(TomlTable table, TomlMetadataStore metadata, List<ConfigError> errors, string file, List<TableKeys>? accepted = null)
        : this(table, metadata, errors, file, "", "", null, accepted)
    {
    }

    private TomlSection(TomlTable table, TomlMetadataStore metadata, List<ConfigError> errors, string file, string path, string pattern, SourceSpan? span, List<TableKeys>? accepted)
    {
        this.table = table;
        this.metadata = metadata;
        this.errors = errors;
        this.file = file;
        Path = path;
        Pattern = pattern;
        this.span = span;
        this.accepted = accepted;
    }

    public string Path { get; }

    /// <summary>The path with each entry name of a <see cref="ChildTables"/> collection as <c>*</c>: <c>models.*.cache</c>.</summary>
    public string Pattern { get; }

    public IEnumerable<string> Keys => table.Keys;

    public bool Has(string key)
    {
        known.Add(key);
        return table.ContainsKey(key);
    }

    public string? OptionalString(string key)
    {
        known.Add(key);
        if (!table.TryGetValue(key, out var value))
        {
            return null;
        }

        if (value is string s)
        {
            return s;
        }

        Error(key, $"expected a string, found {Describe(value)}");
        return null;
    }

    public string String(string key, string defaultValue) => OptionalString(key) ?? defaultValue;

    public string? RequiredString(string key)
    {
        var value = OptionalString(key);
        if (value is null && !table.ContainsKey(key))
        {
            ErrorAtTable($"missing required key '{key}'");
        }

        return value;
    }

    /// <summary>A value that may be a string or an integer (like gpu_layers = "auto" | 33); null when absent or of another type.</summary>
    public object? OptionalStringOrInteger(string key)
    {
        known.Add(key);
        return table.TryGetValue(key, out var value) && value is string or long ? value : null;
    }

    public long Integer(string key, long defaultValue, long min, long max)
    {
        known.Add(key);
        if (!table.TryGetValue(key, out var value))
        {
            return defaultValue;
        }

        if (value is not long l)
        {
            Error(key, $"expected an integer, found {Describe(value)}");
            return defaultValue;
        }

        if (l < min || l > max)
        {
            Error(key, $"{l} is out of range; expected {min}..{max}");
            return defaultValue;
        }

        return l;
    }

    public double Number(string key, double defaultValue, double min, double max)
    {
        known.Add(key);
        if (!table.TryGetValue(key, out var value))
        {
            return defaultValue;
        }

        double d;
        switch (value)
        {
            case double x:
                d = x;
                break;
            case long x:
                d = x;
                break;
            default:
                Error(key, $"expected a number, found {Describe(value)}");
                return defaultValue;
        }

        if (double.IsNaN(d) || d < min || d > max)
        {
            Error(key, $"{d} is out of range; expected {min}..{max}");
            return defaultValue;
        }

        return d;
    }

    public bool Bool(string key, bool defaultValue)
    {
        known.Add(key);
        if (!table.TryGetValue(key, out var value))
        {
            return defaultValue;
        }

        if (value is bool b)
        {
            return b;
        }

        Error(key, $"expected true or false, found {Describe(value)}");
        return defaultValue;
    }

    public T Enum<T>(string key, T defaultValue, IReadOnlyDictionary<string, T> names)
    {
        var text = OptionalString(key);
        if (text is null)
        {
            return defaultValue;
        }

        if (names.TryGetValue(text, out var parsed))
        {
            return parsed;
        }

        Error(key, $"'{text}' is not one of {string.Join(", ", names.Keys.Select(n => $"'{n}'"))}{Suggestions.DidYouMean(text, names.Keys)}");
        return defaultValue;
    }

    public IReadOnlyList<string> StringList(string key)
    {
        known.Add(key);
        if (!table.TryGetValue(key, out var value))
        {
            return [];
        }

        if (value is not TomlArray array)
        {
            Error(key, $"expected an array of strings, found {Describe(value)}");
            return [];
        }

        var result = new List<string>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is string s)
            {
                result.Add(s);
            }
            else
            {
                Error(key, $"item {i} must be a string, found {Describe(array[i])}");
            }
        }

        return result;
    }

    /// <summary>One string or an array of strings (like sha256 = "…" | ["…", "…"]), as a list; empty when absent.</summary>
    public IReadOnlyList<string> StringOrStringList(string key)
    {
        known.Add(key);
        return table.TryGetValue(key, out var value) && value is string s ? [s] : StringList(key);
    }

    public IReadOnlyList<long> IntegerList(string key)
    {
        known.Add(key);
        if (!table.TryGetValue(key, out var value))
        {
            return [];
        }

        if (value is not TomlArray array)
        {
            Error(key, $"expected an array of integers, found {Describe(value)}");
            return [];
        }

        var result = new List<long>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is long l)
            {
                result.Add(l);
            }
            else
            {
                Error(key, $"item {i} must be an integer, found {Describe(array[i])}");
            }
        }

        return result;
    }

    public IReadOnlyDictionary<string, string> StringMap(string key)
    {
        var child = Table(key);
        if (child is null)
        {
            return new Dictionary<string, string>();
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in child.Keys.ToList())
        {
            var value = child.OptionalString(name);
            if (value is not null)
            {
                result[name] = value;
            }
        }

        return result;
    }

    /// <summary>A child table, or null when absent (an error is reported if the key holds something else).</summary>
    public TomlSection? Table(string key)
    {
        known.Add(key);
        return Child(key, JoinKey(Pattern, key));
    }

    /// <summary>Every child table of this table, keyed by its name (for [models.NAME] and the like).</summary>
    public IEnumerable<(string Name, TomlSection Section)> ChildTables()
    {
        foreach (var name in table.Keys.ToList())
        {
            entries.Add(name);
            var child = Child(name, Pattern.Length == 0 ? "*" : $"{Pattern}.*");
            if (child is not null)
            {
                yield return (name, child);
            }
        }
    }

    private TomlSection? Child(string key, string pattern)
    {
        if (!table.TryGetValue(key, out var value))
        {
            return null;
        }

        if (value is TomlTable child)
        {
            return new TomlSection(child, metadata, errors, file, Join(key), pattern, SpanOf(key), accepted);
        }

        Error(key, $"expected a table, found {Describe(value)}");
        return null;
    }

    public void Error(string key, string message)
    {
        errors.Add(Located(SpanOf(key) ?? span, Join(key), message));
    }

    public void ErrorAtTable(string message) => errors.Add(Located(span, Path, message));

    /// <summary>Tomlyn's syntax positions are zero-based; editors and compilers count from one.</summary>
    private ConfigError Located(SourceSpan? at, string keyPath, string message) =>
        at is { } s ? new ConfigError(file, s.Start.Line + 1, s.Start.Column + 1, keyPath, message) : new ConfigError(file, 0, 0, keyPath, message);

    public void RejectUnknownKeys()
    {
        foreach (var key in table.Keys)
        {
            if (!known.Contains(key) && !entries.Contains(key))
            {
                Error(key, $"unknown key{Suggestions.DidYouMean(key, known)}");
            }
        }

        accepted?.Add(new TableKeys(Path, Pattern, known.ToHashSet(StringComparer.Ordinal), [.. table.Keys]));
    }

    private string Join(string key) => JoinKey(Path, key);

    private static string JoinKey(string path, string key)
    {
        var part = BareKey().IsMatch(key) ? key : $"\"{key.Replace("\"", "\\\"", StringComparison.Ordinal)}\"";
        return path.Length == 0 ? part : $"{path}.{part}";
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial System.Text.RegularExpressions.Regex BareKey();

    private SourceSpan? SpanOf(string key) =>
        metadata.TryGetProperties(table, out var properties) && properties!.TryGetProperty(key, out var property)
            ? property!.Span
            : null;

    private static string Describe(object? value) => value switch
    {
        null => "nothing",
        string => "a string",
        long => "an integer",
        double => "a float",
        bool => "a boolean",
        TomlArray => "an array",
        TomlTable => "a table",
        TomlTableArray => "an array of tables",
        _ => "a date/time",
    };
}

/// <summary>
/// One table the loader checked for unknown keys: its <see cref="TomlSection.Path"/> and <see cref="TomlSection.Pattern"/>,
/// the keys its reader accepts (set in the file or not) and the keys the file sets there.
/// </summary>
internal sealed record TableKeys(string Path, string Pattern, IReadOnlySet<string> Accepted, IReadOnlyList<string> Set);
