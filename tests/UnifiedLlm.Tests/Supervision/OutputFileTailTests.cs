using System.Collections.Concurrent;
using System.Text;
using UnifiedLlm.Daemon.Supervision;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Supervision;

/// <summary>
/// Following a backend's output file: lines across reads, the last unterminated line, a line longer than the buffer,
/// emptying a large file, inotify's notice of a write, and reading at once only while a reader follows.
/// </summary>
public sealed class OutputFileTailTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>A pace short enough that the cases about lines and files need no reader to follow.</summary>
    private static readonly TimeSpan Eager = TimeSpan.FromMilliseconds(10);

    /// <summary>How long a line that should not be read yet is looked for.</summary>
    private static readonly TimeSpan Unread = TimeSpan.FromMilliseconds(400);

    [Fact]
    public async Task Lines_written_in_pieces_arrive_whole_and_an_unterminated_last_line_arrives_at_the_end()
    {
        using var dir = new TempDirectory("ullm-tail");
        var path = dir.File("out.log");
        await File.WriteAllTextAsync(path, "one\ntw", TestContext.Current.CancellationToken);
        var lines = new ConcurrentQueue<string>();
        var ended = new TaskCompletionSource();
        var tail = OutputFileTail.RunAsync(path, 0, ended.Task, new OutputDemand(), Eager, lines.Enqueue, TestContext.Current.CancellationToken);

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
        var tail = OutputFileTail.RunAsync(path, 0, ended.Task, new OutputDemand(), Eager, l => { last = l; Interlocked.Increment(ref count); }, TestContext.Current.CancellationToken);

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

        await OutputFileTail.RunAsync(path, 0, ended.Task, new OutputDemand(), Eager, lines.Enqueue, TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken);

        Assert.Equal([OutputFileTail.LineBytes, 10, 4], lines.Select(l => l.Length));
    }

    [Fact]
    public async Task A_write_to_the_file_is_noticed_without_polling()
    {
        using var dir = new TempDirectory("ullm-tail");
        var path = dir.File("out.log");
        await File.WriteAllTextAsync(path, "", TestContext.Current.CancellationToken);
        using var changes = FileChanges.Unwatched(path);
        Assert.True(changes.SetWatch(true));

        // Only inotify's notice completes it: it has no timer of its own.
        var changed = changes.Next();
        await AppendAsync(path, "line\n");

        await changed.WaitAsync(Patience, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Unfollowed_a_write_waits_for_the_pace_and_a_catch_up_reads_it_at_once()
    {
        using var dir = new TempDirectory("ullm-tail");
        var tail = await UnpacedTail.StartAsync(dir);
        await tail.CatchUpAsync();

        await AppendAsync(tail.Path, "one\n");
        await Task.Delay(Unread, TestContext.Current.CancellationToken);
        Assert.Empty(tail.Lines);

        await tail.CatchUpAsync();
        Assert.Equal(["one"], tail.Lines);
        await tail.EndAsync();
    }

    [Fact]
    public async Task While_a_reader_follows_each_write_is_read_on_its_notice_and_not_after_it_left()
    {
        using var dir = new TempDirectory("ullm-tail");
        var tail = await UnpacedTail.StartAsync(dir);

        using (tail.Demand.Follow())
        {
            await AppendAsync(tail.Path, "one\n");
            await WaitAsync(() => tail.Lines.Count == 1);
            await AppendAsync(tail.Path, "two\n");
            await WaitAsync(() => tail.Lines.Count == 2);
        }

        await tail.CatchUpAsync();
        await AppendAsync(tail.Path, "three\n");
        await Task.Delay(Unread, TestContext.Current.CancellationToken);
        Assert.Equal(["one", "two"], tail.Lines);

        await tail.EndAsync();
        Assert.Equal(["one", "two", "three"], tail.Lines);
    }

    [Fact]
    public async Task A_catch_up_after_the_follower_stopped_answers_at_once()
    {
        using var dir = new TempDirectory("ullm-tail");
        var path = dir.File("out.log");
        await File.WriteAllTextAsync(path, "last\n", TestContext.Current.CancellationToken);
        var demand = new OutputDemand();
        var ended = new TaskCompletionSource();
        ended.SetResult();

        await OutputFileTail.RunAsync(path, 0, ended.Task, demand, Timeout.InfiniteTimeSpan, _ => { }, TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken);

        Assert.True(demand.CatchUpAsync(TestContext.Current.CancellationToken).IsCompleted);
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

    /// <summary>A tail of an empty file that reads only when asked or followed (its pace never comes).</summary>
    private sealed class UnpacedTail
    {
        private readonly TaskCompletionSource ended = new();
        private Task running = Task.CompletedTask;

        private UnpacedTail(string path) => Path = path;

        public string Path { get; }

        public ConcurrentQueue<string> Lines { get; } = new();

        public OutputDemand Demand { get; } = new();

        public static async Task<UnpacedTail> StartAsync(TempDirectory dir)
        {
            var tail = new UnpacedTail(dir.File("out.log"));
            await File.WriteAllTextAsync(tail.Path, "", TestContext.Current.CancellationToken);
            tail.running = OutputFileTail.RunAsync(tail.Path, 0, tail.ended.Task, tail.Demand, Timeout.InfiniteTimeSpan, tail.Lines.Enqueue, TestContext.Current.CancellationToken);
            return tail;
        }

        public Task CatchUpAsync() => Demand.CatchUpAsync(TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken);

        /// <summary>The backend ended: the tail reads the rest and stops.</summary>
        public async Task EndAsync()
        {
            ended.SetResult();
            await running.WaitAsync(Patience, TestContext.Current.CancellationToken);
        }
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
