using System.Buffers.Binary;
using System.Text;

namespace UnifiedLlm.Tests.Models;

/// <summary>Builds GGUF bytes by hand, field by field, independently of the product's writer.</summary>
internal sealed class ByteVector
{
    private readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;

    public ByteVector Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public ByteVector U8(byte v) => Raw(v);

    public ByteVector U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return Raw(b);
    }

    public ByteVector U64(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return Raw(b);
    }

    public ByteVector Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        return U64((ulong)b.Length).Raw(b);
    }

    /// <summary>"GGUF", version, tensor count, key/value count.</summary>
    public ByteVector Header(uint version, ulong tensors, ulong keyValues) =>
        Raw((byte)'G', (byte)'G', (byte)'U', (byte)'F').U32(version).U64(tensors).U64(keyValues);

    public ByteVector PadTo(int alignment)
    {
        while (_bytes.Count % alignment != 0)
        {
            _bytes.Add(0);
        }

        return this;
    }

    public byte[] ToArray() => [.. _bytes];
}
