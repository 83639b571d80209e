namespace UnifiedLlm.Daemon.Systemd.DBus;

internal sealed record DBusByte(byte Value) : DBusValue
{
    public override string Signature => "y";
}

internal sealed record DBusBoolean(bool Value) : DBusValue
{
    public override string Signature => "b";
}

internal sealed record DBusInt16(short Value) : DBusValue
{
    public override string Signature => "n";
}

internal sealed record DBusUInt16(ushort Value) : DBusValue
{
    public override string Signature => "q";
}

internal sealed record DBusInt32(int Value) : DBusValue
{
    public override string Signature => "i";
}

internal sealed record DBusUInt32(uint Value) : DBusValue
{
    public override string Signature => "u";
}

internal sealed record DBusInt64(long Value) : DBusValue
{
    public override string Signature => "x";
}

internal sealed record DBusUInt64(ulong Value) : DBusValue
{
    public override string Signature => "t";
}

internal sealed record DBusDouble(double Value) : DBusValue
{
    public override string Signature => "d";
}

/// <summary>A UTF-8 string; must not contain NUL.</summary>
internal sealed record DBusString : DBusValue
{
    public DBusString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("a D-Bus string cannot contain NUL", nameof(value));
        }

        Value = value;
    }

    public string Value { get; }

    public override string Signature => "s";
}

/// <summary>An object path such as <c>/org/freedesktop/systemd1</c>, validated on construction.</summary>
internal sealed record DBusObjectPath : DBusValue
{
    public DBusObjectPath(string value)
    {
        if (!IsValid(value))
        {
            throw new ArgumentException($"\"{value}\" is not a valid D-Bus object path", nameof(value));
        }

        Value = value;
    }

    public string Value { get; }

    public override string Signature => "o";

    /// <summary>"/" or "/"-separated non-empty elements of [A-Za-z0-9_], no trailing "/".</summary>
    public static bool IsValid(string? path)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '/')
        {
            return false;
        }

        if (path.Length == 1)
        {
            return true;
        }

        var previousWasSlash = true;
        for (var i = 1; i < path.Length; i++)
        {
            var c = path[i];
            if (c == '/')
            {
                if (previousWasSlash)
                {
                    return false;
                }

                previousWasSlash = true;
            }
            else if (char.IsAsciiLetterOrDigit(c) || c == '_')
            {
                previousWasSlash = false;
            }
            else
            {
                return false;
            }
        }

        return !previousWasSlash;
    }
}

/// <summary>A type signature carried as a value (<c>g</c>), validated on construction.</summary>
internal sealed record DBusSignatureValue : DBusValue
{
    public DBusSignatureValue(string value)
    {
        DBusSignature.Parse(value);
        Value = value;
    }

    public string Value { get; }

    public override string Signature => "g";
}
