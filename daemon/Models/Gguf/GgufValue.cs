namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>
/// One metadata value. <see cref="Value"/> holds the CLR value for the type: byte, sbyte, ushort, short, uint, int,
/// float, bool, string, ulong, long, double, or a <see cref="GgufArray"/>.
/// </summary>
internal sealed record GgufValue(GgufValueType Type, object Value)
{
    public static GgufValue FromUInt8(byte value) => new(GgufValueType.UInt8, value);

    public static GgufValue FromInt8(sbyte value) => new(GgufValueType.Int8, value);

    public static GgufValue FromUInt16(ushort value) => new(GgufValueType.UInt16, value);

    public static GgufValue FromInt16(short value) => new(GgufValueType.Int16, value);

    public static GgufValue FromUInt32(uint value) => new(GgufValueType.UInt32, value);

    public static GgufValue FromInt32(int value) => new(GgufValueType.Int32, value);

    public static GgufValue FromFloat32(float value) => new(GgufValueType.Float32, value);

    public static GgufValue FromBool(bool value) => new(GgufValueType.Bool, value);

    public static GgufValue FromString(string value) => new(GgufValueType.String, value);

    public static GgufValue FromUInt64(ulong value) => new(GgufValueType.UInt64, value);

    public static GgufValue FromInt64(long value) => new(GgufValueType.Int64, value);

    public static GgufValue FromFloat64(double value) => new(GgufValueType.Float64, value);

    public static GgufValue FromArray(GgufArray value) => new(GgufValueType.Array, value);

    /// <summary>The value as a signed integer when it is one of the integer types and fits; otherwise null.</summary>
    public long? AsInteger() => Value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        _ => null,
    };

    /// <summary>The value as a double when it is a float or integer type; otherwise null.</summary>
    public double? AsNumber() => Value switch
    {
        float v => v,
        double v => v,
        _ => AsInteger(),
    };
}
