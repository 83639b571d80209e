namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>
/// A metadata array. <see cref="Items"/> is a typed CLR array matching <see cref="ElementType"/>
/// (e.g. float[] for Float32, string[] for String, GgufArray[] for nested arrays).
/// </summary>
internal sealed record GgufArray(GgufValueType ElementType, Array Items)
{
    public int Count => Items.Length;

    public static GgufArray OfStrings(IEnumerable<string> items) => new(GgufValueType.String, items.ToArray());

    public static GgufArray OfFloat32(IEnumerable<float> items) => new(GgufValueType.Float32, items.ToArray());

    public static GgufArray OfInt32(IEnumerable<int> items) => new(GgufValueType.Int32, items.ToArray());

    /// <summary>Integer items widened to long, or null when the element type is not an integer type (or a value exceeds long).</summary>
    public long[]? AsIntegers()
    {
        var result = new long[Items.Length];
        for (var i = 0; i < Items.Length; i++)
        {
            var item = new GgufValue(ElementType, Items.GetValue(i)!).AsInteger();
            if (item is null)
            {
                return null;
            }

            result[i] = item.Value;
        }

        return result;
    }
}
