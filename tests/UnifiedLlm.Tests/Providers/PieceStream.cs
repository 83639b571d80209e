namespace UnifiedLlm.Tests.Providers;

/// <summary>A read-only stream that hands out one piece per read (less when the buffer is smaller), counting reads.</summary>
internal sealed class PieceStream(List<byte[]> pieces) : Stream
{
    private int piece;
    private int offset;

    public int Reads { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        Reads++;
        if (piece == pieces.Count)
        {
            return 0;
        }

        var count = Math.Min(buffer.Length, pieces[piece].Length - offset);
        pieces[piece].AsSpan(offset, count).CopyTo(buffer);
        offset += count;
        if (offset == pieces[piece].Length)
        {
            (piece, offset) = (piece + 1, 0);
        }

        return count;
    }

    public override void Flush() => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
