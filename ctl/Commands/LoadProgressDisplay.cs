using System.Diagnostics;
using Grpc.Core;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>
/// Follows a LoadModel/SwitchModel progress stream. On a terminal one status line shows the phase and a running elapsed
/// time; otherwise each phase is one line; with --json each message is one JSON line. Ctrl-C ends the stream and unloads
/// the model being loaded, so that nothing keeps loading behind the user's back.
/// </summary>
internal static class LoadProgressDisplay
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);

    /// <summary>How long a Ctrl-C may take to cancel the load in the daemon before ullmctl gives up waiting.</summary>
    public static readonly TimeSpan CancelTimeout = TimeSpan.FromSeconds(30);

    /// <param name="untilReady">Follow to READY; otherwise stop once the backend's unit has started and it is loading weights.</param>
    /// <param name="cancelLoad">
    /// Undoes the load in the daemon when the user presses Ctrl-C (the load does not depend on this stream, which other
    /// clients may share): returns what was done.
    /// </param>
    public static async Task<int> FollowAsync(
        IAsyncStreamReader<LoadProgress> stream, bool json, bool untilReady, Func<CancellationToken, Task<string>> cancelLoad, CancellationToken cancellationToken)
    {
        try
        {
            return await FollowAsync(stream, json, untilReady, cancellationToken);
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
            using var timeout = new CancellationTokenSource(CancelTimeout);
            try
            {
                return CtlErrors.Fail(json, CtlErrors.Failed, StatusCode.Cancelled, $"cancelled: {await cancelLoad(timeout.Token)}");
            }
            catch (RpcException failed)
            {
                return CtlErrors.Fail(
                    json, CtlErrors.Failed, StatusCode.Cancelled, $"cancelled, but the daemon could not undo the load: {failed.StatusCode}: {failed.Status.Detail}");
            }
        }
    }

    private static async Task<int> FollowAsync(IAsyncStreamReader<LoadProgress> stream, bool json, bool untilReady, CancellationToken cancellationToken)
    {
        var live = !json && !Console.IsOutputRedirected;
        LoadProgress? last = null;
        var sinceLast = Stopwatch.StartNew();
        var detached = false;
        var next = stream.MoveNext(cancellationToken);
        try
        {
            while (true)
            {
                while (live && last is not null && await Task.WhenAny(next, Task.Delay(Tick, cancellationToken)) != next)
                {
                    Draw(last, sinceLast.Elapsed);
                }

                if (!await next)
                {
                    break;
                }

                last = stream.Current;
                sinceLast.Restart();
                if (json)
                {
                    await Console.Out.WriteLineAsync(Google.Protobuf.JsonFormatter.Default.Format(last));
                }
                else if (live)
                {
                    Draw(last, TimeSpan.Zero);
                }
                else
                {
                    await Console.Out.WriteLineAsync(Line(last, TimeSpan.Zero));
                }

                await Console.Out.FlushAsync(cancellationToken);
                if (last.Phase is LoadPhase.Ready or LoadPhase.Failed)
                {
                    break;
                }

                if (!untilReady && last.Phase == LoadPhase.LoadingWeights)
                {
                    detached = true;
                    break;
                }

                next = stream.MoveNext(cancellationToken);
            }
        }
        finally
        {
            EndLine(live && last is not null);
        }

        if (detached)
        {
            await Console.Error.WriteLineAsync(
                $"ullmctl: {last!.Model} is loading in the background; 'ullmctl load --wait' follows it to ready, 'ullmctl events' shows when it is");
            return CtlErrors.Ok;
        }

        return last?.Phase switch
        {
            LoadPhase.Ready => CtlErrors.Ok,
            LoadPhase.Failed => await FailedAsync(stream, json, $"{last.Model} failed to load after {Printer.Duration(last.ElapsedMs)}: {last.Message}", cancellationToken),
            _ => CtlErrors.Fail(json, CtlErrors.Failed, StatusCode.Unknown,
                $"the daemon ended the progress stream before the load finished{(last is null ? "" : $" (last phase: {PhaseName(last.Phase)})")}"),
        };
    }

    public static string PhaseName(LoadPhase phase) => phase switch
    {
        LoadPhase.Queued => "queued",
        LoadPhase.Downloading => "downloading",
        LoadPhase.Planning => "planning",
        LoadPhase.Evicting => "evicting",
        LoadPhase.StartingUnit => "starting unit",
        LoadPhase.LoadingWeights => "loading weights",
        LoadPhase.Ready => "ready",
        LoadPhase.Failed => "failed",
        _ => "unknown",
    };

    private static string Line(LoadProgress p, TimeSpan sinceMessage)
    {
        var elapsed = Printer.Duration(p.ElapsedMs + (ulong)sinceMessage.TotalMilliseconds);
        var unit = p.Instance is { Unit.Length: > 0 } i ? $" [{i.Unit}]" : "";
        var message = p.Message.Length > 0 ? $": {p.Message}" : "";
        return Printer.Safe($"{elapsed,8}  {p.Model} {PhaseName(p.Phase)}{unit}{message}");
    }

    private static void Draw(LoadProgress p, TimeSpan sinceMessage)
    {
        var line = Line(p, sinceMessage);
        var width = Table.TerminalWidth() - 1;
        Console.Out.Write("\r\u001b[2K" + (line.Length > width ? line[..width] : line));
        Console.Out.Flush();
    }

    private static void EndLine(bool drawn)
    {
        if (drawn)
        {
            Console.Out.WriteLine();
        }
    }

    /// <summary>
    /// A FAILED phase is followed by the call's status, which says what kind of failure it was (NOT_FOUND, RESOURCE_EXHAUSTED, …):
    /// the exit code follows it, as for every other command.
    /// </summary>
    private static async Task<int> FailedAsync(IAsyncStreamReader<LoadProgress> stream, bool json, string message, CancellationToken cancellationToken)
    {
        var status = StatusCode.Unknown;
        try
        {
            while (await stream.MoveNext(cancellationToken))
            {
            }
        }
        catch (RpcException e)
        {
            status = e.StatusCode;
        }

        return CtlErrors.Fail(json, status == StatusCode.Unknown ? CtlErrors.Failed : CtlErrors.ExitCode(status), status, message);
    }
}
