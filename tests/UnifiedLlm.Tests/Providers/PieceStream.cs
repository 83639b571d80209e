namespace UnifiedLlm.Tests.Providers;

/// <summary>A read-only stream that hands out one piece per read (less when the buffer is smaller), counting reads.</summary>
internal sealed class PieceStream(List<byte[]> pieces) : ReadOnlyTestStream
{
    private int piece;
    private int offset;

    public int Reads { get; private set; }

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
}
