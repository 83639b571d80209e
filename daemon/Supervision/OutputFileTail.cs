using System.Text;

namespace UnifiedLlm.Daemon.Supervision;

/// <summary>
/// Follows a backend's output file line by line, reading as soon as inotify says it grew (<see cref="FileChanges"/>).
/// The backend writes it directly (O_APPEND), so its output outlives ullmd: a pipe to ullmd would break when ullmd dies
/// and kill the backend with SIGPIPE at its next line. Once it has read everything of a file over
/// <see cref="MaxBytes"/>, the tail empties it; the backend's next write lands at the new end, so only a line written in
/// that instant can be lost.
/// </summary>
internal static class OutputFileTail
{
    public const long MaxBytes = 16L << 20;

    /// <summary>Reads from <paramref name="offset"/> until <paramref name="ended"/> completes and the file is drained.</summary>
    public static async Task RunAsync(string path, long offset, Task ended, Action<string> onLine, CancellationToken cancellationToken)
    {
        using var changes = FileChanges.Watch(path);
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 1, useAsync: false);
        stream.Position = Math.Min(offset, stream.Length);
        var buffer = new byte[64 * 1024];
        var partial = new List<byte>();
        while (true)
        {
            var wasEnded = ended.IsCompleted;
            var changed = changes.Next();
            var read = await stream.ReadAsync(buffer, cancellationToken);
            if (read > 0)
            {
                Split(buffer.AsSpan(0, read), partial, onLine);
                continue;
            }

            if (wasEnded)
            {
                if (partial.Count > 0)
                {
                    onLine(Encoding.UTF8.GetString([.. partial]));
                }

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

            // A notice, the backend's end or the backstop's pause, whichever comes first; none of them is an error.
            await ((Task)Task.WhenAny(ended, changed).WaitAsync(changes.Backstop, cancellationToken)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
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

    private static void Split(ReadOnlySpan<byte> bytes, List<byte> partial, Action<string> onLine)
    {
        while (true)
        {
            var newline = bytes.IndexOf((byte)'\n');
            if (newline < 0)
            {
                partial.AddRange(bytes);
                return;
            }

            partial.AddRange(bytes[..newline]);
            onLine(Encoding.UTF8.GetString([.. partial]).TrimEnd('\r'));
            partial.Clear();
            bytes = bytes[(newline + 1)..];
        }
    }
}
