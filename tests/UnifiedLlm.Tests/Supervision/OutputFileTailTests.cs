using System.Collections.Concurrent;
using System.Text;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Supervision;

/// <summary>Following a backend's output file: lines across reads, the last unterminated line, a line longer than the buffer, emptying a large file, inotify's notice of a write.</summary>
public sealed class OutputFileTailTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Lines_written_in_pieces_arrive_whole_and_an_unterminated_last_line_arrives_at_the_end()
    {
        using var dir = new TempDirectory("ullm-tail");
        var path = dir.File("out.log");
        await File.WriteAllTextAsync(path, "one\ntw", TestContext.Current.CancellationToken);
        var lines = new ConcurrentQueue<string>();
        var ended = new TaskCompletionSource();
        var tail = OutputFileTail.RunAsync(path, 0, ended.Task, lines.Enqueue, TestContext.Current.CancellationToken);

        await AppendAsync(path, "o\r\nthrée\nlast");
        await WaitAsync(() => lines.Count == 3);
        ended.SetResult();
        await tail.WaitAsync(Patience, TestContext.Current.CancellationToken);

        Assert.Equal(["one", "two", "thrée", "last"], lines);
    }

    [Fact]
    public async Task A_file_past_the_limit_is_emptied_once_read_and_later_lines_still_arrive()
    {
        using var dir = new TempDirectory("ullm-tail");
        var path = dir.File("out.log");
        var line = new string('x', 1023) + "\n";
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Repeat(line, (int)(OutputFileTail.MaxBytes / 1024) + 16)), TestContext.Current.CancellationToken);
        var count = 0;
        var last = "";
        var ended = new TaskCompletionSource();
        var tail = OutputFileTail.RunAsync(path, 0, ended.Task, l => { last = l; Interlocked.Increment(ref count); }, TestContext.Current.CancellationToken);

        await WaitAsync(() => new FileInfo(path).Length == 0);
        Assert.Equal((OutputFileTail.MaxBytes / 1024) + 16, Volatile.Read(ref count));
        await AppendAsync(path, "after\n");
        await WaitAsync(() => last == "after");
        ended.SetResult();
        await tail.WaitAsync(Patience, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_line_longer_than_the_tails_buffer_arrives_in_pieces_of_its_size()
    {
        using var dir = new TempDirectory("ullm-tail");
        var path = dir.File("out.log");
        await File.WriteAllTextAsync(path, new string('x', OutputFileTail.LineBytes + 10) + "\nnext\n", TestContext.Current.CancellationToken);
        var lines = new ConcurrentQueue<string>();
        var ended = new TaskCompletionSource();
        ended.SetResult();

        await OutputFileTail.RunAsync(path, 0, ended.Task, lines.Enqueue, TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken);

        Assert.Equal([OutputFileTail.LineBytes, 10, 4], lines.Select(l => l.Length));
    }

    [Fact]
    public async Task A_write_to_the_file_is_noticed_without_polling()
    {
        using var dir = new TempDirectory("ullm-tail");
        var path = dir.File("out.log");
        await File.WriteAllTextAsync(path, "", TestContext.Current.CancellationToken);
        using var changes = FileChanges.Watch(path);

        // Only inotify's notice completes it: it has no timer of its own.
        var changed = changes.Next();
        await AppendAsync(path, "line\n");

        await changed.WaitAsync(Patience, TestContext.Current.CancellationToken);
    }

    [Fact]
    public void An_adopted_backends_output_is_read_from_the_start_of_a_recent_line()
    {
        using var dir = new TempDirectory("ullm-tail");
        var path = dir.File("out.log");
        File.WriteAllText(path, "aaaa\nbbbb\ncccc\n");

        Assert.Equal(10, OutputFileTail.RecentStart(path, 7));
        Assert.Equal(0, OutputFileTail.RecentStart(path, 100));
    }

    private static async Task AppendAsync(string path, string text)
    {
        await using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text));
    }

    private static async Task WaitAsync(Func<bool> done)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (!done())
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
