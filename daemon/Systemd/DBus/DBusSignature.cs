namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>Parses and validates D-Bus type signatures (length, codes, nesting, dict-entry placement).</summary>
internal static class DBusSignature
{
    /// <summary>Parses a signature into its complete types; throws <see cref="DBusProtocolException"/> naming the offending position.</summary>
    public static IReadOnlyList<DBusType> Parse(string signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        if (signature.Length > DBusLimits.MaxSignatureLength)
        {
            throw Invalid(signature, DBusLimits.MaxSignatureLength, $"longer than {DBusLimits.MaxSignatureLength} characters");
        }

        var types = new List<DBusType>();
        var position = 0;
        while (position < signature.Length)
        {
            types.Add(ParseOne(signature, ref position, arrayDepth: 0, structDepth: 0, insideArray: false));
        }

        return types;
    }

    /// <summary>Parses a signature that must hold exactly one complete type (a variant's or an array element's).</summary>
    public static DBusType ParseSingle(string signature)
    {
        var types = Parse(signature);
        if (types.Count != 1)
        {
            throw Invalid(signature, 0, $"expected exactly one complete type, found {types.Count}");
        }

        return types[0];
    }

    private static DBusType ParseOne(string signature, ref int position, int arrayDepth, int structDepth, bool insideArray)
    {
        if (position >= signature.Length)
        {
            throw Invalid(signature, position, "ends where a type was expected");
        }

        var start = position;
        var code = signature[position++];
        switch (code)
        {
            case 'a':
                if (arrayDepth + 1 > DBusLimits.MaxArrayNesting)
                {
                    throw Invalid(signature, start, $"arrays nested deeper than {DBusLimits.MaxArrayNesting}");
                }

                if (position >= signature.Length)
                {
                    throw Invalid(signature, start, "array has no element type");
                }

                return DBusType.Array(ParseOne(signature, ref position, arrayDepth + 1, structDepth, insideArray: true));
            case '(':
                return DBusType.Struct(ParseFields(signature, ref position, start, ')', arrayDepth, structDepth));
            case '{':
                if (!insideArray)
                {
                    throw Invalid(signature, start, "dict entry outside an array");
                }

                var fields = ParseFields(signature, ref position, start, '}', arrayDepth, structDepth);
                if (fields.Count != 2)
                {
                    throw Invalid(signature, start, $"dict entry has {fields.Count} fields, needs exactly 2");
                }

                if (!fields[0].IsBasic)
                {
                    throw Invalid(signature, start + 1, "dict entry key is not a basic type");
                }

                return DBusType.DictEntry(fields[0], fields[1]);
            case 'v':
                return DBusType.Basic('v');
            default:
                if (DBusType.IsBasicCode(code))
                {
                    return DBusType.Basic(code);
                }

                throw Invalid(signature, start, $"'{code}' is not a valid type code");
        }
    }

    private static List<DBusType> ParseFields(string signature, ref int position, int start, char close, int arrayDepth, int structDepth)
    {
        if (structDepth + 1 > DBusLimits.MaxStructNesting)
        {
            throw Invalid(signature, start, $"structs nested deeper than {DBusLimits.MaxStructNesting}");
        }

        var fields = new List<DBusType>();
        while (true)
        {
            if (position >= signature.Length)
            {
                throw Invalid(signature, start, $"'{signature[start]}' is never closed");
            }

            if (signature[position] == close)
            {
                position++;
                if (fields.Count == 0)
                {
                    throw Invalid(signature, start, "empty struct or dict entry");
                }

                return fields;
            }

            if (signature[position] is ')' or '}')
            {
                throw Invalid(signature, position, $"unexpected '{signature[position]}'");
            }

            fields.Add(ParseOne(signature, ref position, arrayDepth, structDepth + 1, insideArray: false));
        }
    }

    private static DBusProtocolException Invalid(string signature, int position, string reason) =>
        new($"invalid signature \"{Truncate(signature)}\" at character {position}: {reason}");

    private static string Truncate(string signature) => signature.Length <= 64 ? signature : signature[..64] + "…";
}
