using System.Text;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Follows a backend's output file line by line. While a reader follows the output (<see cref="OutputDemand"/>), it
/// reads as soon as inotify says the file grew (<see cref="FileChanges"/>); while none does, at
/// <see cref="UnfollowedPace"/>, with no watch set, so that a backend's lines cost a read per pace instead of a wakeup
/// each. The backend writes the file directly (O_APPEND), so its output outlives ullmd: a pipe to ullmd would break
/// when ullmd dies and kill the backend with SIGPIPE at its next line. Once it has read everything of a file over
/// <see cref="MaxBytes"/>, the tail empties it; the backend's next write lands at the new end, so only a line written in
/// that instant can be lost.
/// </summary>
internal static class OutputFileTail
{
    public const long MaxBytes = 16L << 20;

    /// <summary>The longest line passed on whole; a longer one comes in pieces of this size.</summary>
    public const int LineBytes = 64 * 1024;

    /// <summary>How often the output is read while no reader follows it.</summary>
    public static readonly TimeSpan UnfollowedPace = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Reads from <paramref name="offset"/> until <paramref name="ended"/> completes and the file is drained, at
    /// <paramref name="unfollowedPace"/> while no reader follows (<see cref="UnfollowedPace"/> in ullmd).
    /// </summary>
    public static async Task RunAsync(
        string path, long offset, Task ended, OutputDemand demand, TimeSpan unfollowedPace, Action<string> onLine, CancellationToken cancellationToken)
    {
        try
        {
            using var changes = FileChanges.Unwatched(path);
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 1, useAsync: false);
            stream.Position = Math.Min(offset, stream.Length);
            var lines = new LineSplitter(onLine);
            while (true)
            {
                var wasEnded = ended.IsCompleted;
                var wanted = demand.Wanted();
                var changed = changes.Next();
                var pass = demand.BeginPass();
                try
                {
                    await ReadToEndAsync(stream, lines, cancellationToken);
                }
                finally
                {
                    OutputDemand.EndPass(pass);
                }

                if (wasEnded)
                {
                    lines.Flush();
                    return;
                }

                if (stream.Length > MaxBytes && stream.Position >= stream.Length)
                {
                    stream.SetLength(0);
                    stream.Position = 0;
                }
                else if (stream.Length < stream.Position)
                {
                    stream.Position = 0;
                }

                var followed = demand.Followed;
                if (changes.SetWatch(followed))
                {
                    // A write between the read and the watch was not noticed: look for it now.
                    continue;
                }

                // A notice, a reader's wish, the backend's end or the pace, whichever comes first; none is an error.
                var woken = followed ? Task.WhenAny(ended, changed, wanted) : Task.WhenAny(ended, wanted);
                await ((Task)woken.WaitAsync(followed ? changes.Backstop : unfollowedPace, cancellationToken)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        finally
        {
            demand.End();
        }
    }

    private static async Task ReadToEndAsync(FileStream stream, LineSplitter lines, CancellationToken cancellationToken)
    {
        int read;
        while ((read = await stream.ReadAsync(lines.Free, cancellationToken)) > 0)
        {
            lines.Added(read);
        }
    }

    /// <summary>Where to start for a backend adopted mid-run: about the last <paramref name="tailBytes"/>, from a line start.</summary>
    public static long RecentStart(string path, long tailBytes)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.Length <= tailBytes)
        {
            return 0;
        }

        stream.Position = stream.Length - tailBytes;
        int next;
        while ((next = stream.ReadByte()) >= 0 && next != '\n')
        {
        }

        return stream.Position;
    }

    /// <summary>
    /// Splits what is read into lines in its own buffer: each line is decoded where it lies, and only the unfinished
    /// last one moves to the front for the next read (the bytes are not copied one list element at a time).
    /// </summary>
    private sealed class LineSplitter(Action<string> onLine)
    {
        private readonly byte[] buffer = new byte[LineBytes];
        private int filled;

        /// <summary>Where the next read goes.</summary>
        public Memory<byte> Free => buffer.AsMemory(filled);

        /// <summary><paramref name="count"/> bytes were read into <see cref="Free"/>: every line they finish is passed on.</summary>
        public void Added(int count)
        {
            var end = filled + count;
            var start = 0;

            // The bytes kept from the last read hold no newline.
            var next = filled;
            int newline;
            while ((newline = buffer.AsSpan(next, end - next).IndexOf((byte)'\n')) >= 0)
            {
                var lineEnd = next + newline;
                onLine(Decode(buffer.AsSpan(start, lineEnd - start).TrimEnd((byte)'\r')));
                start = next = lineEnd + 1;
            }

            var rest = end - start;
            if (rest == buffer.Length)
            {
                onLine(Decode(buffer));
                rest = 0;
            }
            else if (start > 0)
            {
                buffer.AsSpan(start, rest).CopyTo(buffer);
            }

            filled = rest;
        }

        /// <summary>The output ended: an unfinished last line is passed on as it is.</summary>
        public void Flush()
        {
            if (filled > 0)
            {
                onLine(Decode(buffer.AsSpan(0, filled)));
                filled = 0;
            }
        }

        private static string Decode(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
    }
}
