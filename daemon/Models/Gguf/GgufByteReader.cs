using System.Buffers.Binary;
using System.Text;

namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>
/// Little-endian primitive reads from a seekable stream through a small buffer, checking every length against the bytes
/// that remain so a hostile length can never cause a large allocation or a read past the end.
/// </summary>
internal sealed class GgufByteReader
{
    private const int BufferSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _bufferStart;
    private int _bufferEnd;

    public GgufByteReader(Stream stream, string source)
    {
        _stream = stream;
        Source = source;
        Length = stream.Length;
        Position = stream.Position;
    }

    public string Source { get; }

    public long Length { get; }

    public long Position { get; private set; }

    public long Remaining => Length - Position;

    public GgufFormatException Error(long offset, string problem) => new(Source, offset, problem);

    /// <summary>Fails unless <paramref name="count"/> more bytes exist, naming <paramref name="what"/>.</summary>
    public void Require(ulong count, string what)
    {
        if (count > (ulong)Remaining)
        {
            throw Error(Position, $"{what} needs {count} bytes but only {Remaining} remain (truncated file?)");
        }
    }

    public byte ReadUInt8(string what) => Take(1, what)[0];

    public ushort ReadUInt16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));

    public uint ReadUInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

    public ulong ReadUInt64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    public float ReadFloat32(string what) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, what));

    public double ReadFloat64(string what) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, what));

    /// <summary>A uint64 length followed by that many UTF-8 bytes (invalid sequences become U+FFFD).</summary>
    public string ReadString(string what, int maxBytes)
    {
        var at = Position;
        var length = ReadUInt64(what + " length");
        if (length > (ulong)maxBytes)
        {
            throw Error(at, $"{what} length {length} exceeds the limit of {maxBytes} bytes");
        }

        Require(length, what);
        var count = (int)length;
        if (count <= BufferSize)
        {
            return Encoding.UTF8.GetString(Take(count, what));
        }

        var bytes = new byte[count];
        for (var done = 0; done < count;)
        {
            var chunk = Math.Min(BufferSize, count - done);
            Take(chunk, what).CopyTo(bytes.AsSpan(done));
            done += chunk;
        }

        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Moves to an absolute offset at or before the end of the file.</summary>
    public void Seek(long offset, string what)
    {
        if (offset < 0 || offset > Length)
        {
            throw Error(Position, $"{what} at {offset} lies outside the file ({Length} bytes)");
        }

        var bufferedFrom = Position - _bufferStart;
        if (offset >= bufferedFrom && offset <= bufferedFrom + _bufferEnd)
        {
            _bufferStart = (int)(offset - bufferedFrom);
        }
        else
        {
            _stream.Seek(offset, SeekOrigin.Begin);
            _bufferStart = 0;
            _bufferEnd = 0;
        }

        Position = offset;
    }

    private ReadOnlySpan<byte> Take(int count, string what)
    {
        Require((ulong)count, what);
        if (_bufferEnd - _bufferStart < count)
        {
            Refill(count, what);
        }

        var span = _buffer.AsSpan(_bufferStart, count);
        _bufferStart += count;
        Position += count;
        return span;
    }

    private void Refill(int needed, string what)
    {
        var kept = _bufferEnd - _bufferStart;
        Buffer.BlockCopy(_buffer, _bufferStart, _buffer, 0, kept);
        _bufferStart = 0;
        _bufferEnd = kept;
        while (_bufferEnd < needed)
        {
            var read = _stream.Read(_buffer, _bufferEnd, BufferSize - _bufferEnd);
            if (read == 0)
            {
                throw Error(Position, $"{what}: unexpected end of stream");
            }

            _bufferEnd += read;
        }
    }
}
