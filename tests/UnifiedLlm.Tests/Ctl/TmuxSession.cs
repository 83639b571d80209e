using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// A command running in a real terminal: a detached tmux session on a private tmux server (its own -L socket), read with
/// capture-pane and typed into with send-keys. Disposing kills that server and everything in it.
/// </summary>
internal sealed class TmuxSession : IAsyncDisposable
{
    private readonly string server = $"ullm-test-{Guid.NewGuid():N}";

    private TmuxSession()
    {
    }

    public static async Task<TmuxSession> StartAsync(string command, int width, int height)
    {
        var session = new TmuxSession();
        var result = await session.TmuxAsync("new-session", "-d", "-s", "main", "-x", $"{width}", "-y", $"{height}", command);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"tmux new-session failed: {result}");
        }

        return session;
    }

    public async Task<string> CaptureAsync() => (await TmuxAsync("capture-pane", "-p", "-t", "main")).StandardOutput;

    /// <summary>Captures the pane until <paramref name="done"/> holds for it, or fails with the last capture after the timeout.</summary>
    public async Task<string> WaitForScreenAsync(Func<string, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var screen = await CaptureAsync();
            if (done(screen))
            {
                return screen;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the terminal did not show {what} within {timeout}; last screen:\n{screen}");
            }

            await Task.Delay(200);
        }
    }

    public Task<ProcessResult> SendKeysAsync(string keys) => TmuxAsync("send-keys", "-t", "main", keys);

    public async Task<bool> IsRunningAsync() => (await TmuxAsync("has-session", "-t", "main")).ExitCode == 0;

    public async ValueTask DisposeAsync() => await TmuxAsync("kill-server");

    private Task<ProcessResult> TmuxAsync(params string[] arguments) =>
        ProcessRunner.RunAsync("tmux", arguments.Prepend(server).Prepend("-L"), timeout: TimeSpan.FromSeconds(30));
}
