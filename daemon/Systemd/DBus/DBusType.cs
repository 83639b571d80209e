namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// One complete type parsed from a signature: a basic type code, an array (<see cref="Element"/>),
/// a struct or dict entry (<see cref="Fields"/>), or a variant.
/// </summary>
internal sealed class DBusType
{
    private DBusType(char code, DBusType? element, IReadOnlyList<DBusType> fields, string signature)
    {
        Code = code;
        Element = element;
        Fields = fields;
        Signature = signature;
    }

    public char Code { get; }

    /// <summary>Element type of an array; null otherwise.</summary>
    public DBusType? Element { get; }

    /// <summary>Field types of a struct, or key and value of a dict entry; empty otherwise.</summary>
    public IReadOnlyList<DBusType> Fields { get; }

    public string Signature { get; }

    public int Alignment => AlignmentOf(Code);

    public bool IsBasic => IsBasicCode(Code);

    public static DBusType Basic(char code) => new(code, null, [], code.ToString());

    public static DBusType Array(DBusType element) => new('a', element, [], "a" + element.Signature);

    public static DBusType Struct(IReadOnlyList<DBusType> fields) =>
        new('(', null, fields, "(" + string.Concat(fields.Select(f => f.Signature)) + ")");

    public static DBusType DictEntry(DBusType key, DBusType value) =>
        new('{', null, [key, value], "{" + key.Signature + value.Signature + "}");

    public static bool IsBasicCode(char code) => code is 'y' or 'b' or 'n' or 'q' or 'i' or 'u' or 'x' or 't' or 'd' or 's' or 'o' or 'g' or 'h';

    public static int AlignmentOf(char code) => code switch
    {
        'y' or 'g' or 'v' => 1,
        'n' or 'q' => 2,
        'b' or 'i' or 'u' or 'h' or 's' or 'o' or 'a' => 4,
        'x' or 't' or 'd' or '(' or '{' => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(code), code, "not a D-Bus type code"),
    };

    public override string ToString() => Signature;
}
