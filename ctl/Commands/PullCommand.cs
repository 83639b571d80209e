using System.CommandLine;
using System.Diagnostics;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>
/// <c>pull</c>: fetches a model without loading it (a remote source's download, or an Ollama tag through Ollama). On a
/// terminal one status line shows the progress; otherwise a line every few seconds and the last one; with --json each
/// message is one JSON line. Ctrl-C stops following: the download goes on in the daemon, and the next pull or load joins it.
/// </summary>
internal static class PullCommand
{
    private static readonly TimeSpan RedirectedEvery = TimeSpan.FromSeconds(2);

    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "A model name or alias" };
        var command = new Command("pull", "Download a model's remote source (URL or hf:) or pull its Ollama tag, showing progress") { name };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            using var call = client.PullModel(new PullModelRequest { Name = parse.GetValue(name)! }, cancellationToken: ct);
            var live = !json && !Console.IsOutputRedirected;
            var sincePrinted = Stopwatch.StartNew();
            PullProgress? last = null;
            var printed = 0;
            try
            {
                while (await call.ResponseStream.MoveNext(ct))
                {
                    last = call.ResponseStream.Current;
                    if (json)
                    {
                        await Console.Out.WriteLineAsync(Google.Protobuf.JsonFormatter.Default.Format(last));
                    }
                    else if (live && !last.Done)
                    {
                        var line = Line(last);
                        var width = Table.TerminalWidth() - 1;
                        await Console.Out.WriteAsync("\r\u001b[2K" + (line.Length > width ? line[..width] : line));
                    }
                    else if (live || last.Done || printed == 0 || sincePrinted.Elapsed >= RedirectedEvery)
                    {
                        await Console.Out.WriteLineAsync((live ? "\r\u001b[2K" : "") + Line(last));
                        printed++;
                        sincePrinted.Restart();
                    }

                    await Console.Out.FlushAsync(ct);
                }
            }
            finally
            {
                if (live && last is { Done: false })
                {
                    await Console.Out.WriteLineAsync();
                }
            }

            return last is { Done: true }
                ? CtlErrors.Ok
                : CtlErrors.Fail(json, CtlErrors.Failed, Grpc.Core.StatusCode.Unknown, "the daemon ended the pull's progress stream before it was done");
        });
    }

    /// <summary>"tiny: downloading tiny.gguf: 1.0 MiB of 4.0 MiB, 2.0 MiB/s, 2 s left", or an Ollama status with its layer's bytes.</summary>
    public static string Line(PullProgress p)
    {
        var bytes = p.Parts == 0 && p.TotalBytes > 0 ? $" {Printer.Bytes(p.CompletedBytes)} of {Printer.Bytes(p.TotalBytes)}" : "";
        return Printer.Safe($"{p.Model}: {p.Status}{bytes}");
    }
}
