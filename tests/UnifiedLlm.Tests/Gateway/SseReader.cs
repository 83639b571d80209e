using System.Text;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>Reads server-sent events one at a time from a response body, as a client sees them arrive.</summary>
internal sealed class SseReader(Stream stream) : IDisposable
{
    private readonly StreamReader reader = new(stream, Encoding.UTF8);

    /// <summary>The next event (its "event:" name, if any, and its data), or null at the end of the stream.</summary>
    public async Task<(string? Event, string Data)?> NextAsync(CancellationToken cancellationToken)
    {
        string? name = null;
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Length > 0 || name is not null)
                {
                    return (name, data.ToString());
                }

                continue;
            }

            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Append(line[6..]);
            }
        }

        return null;
    }

    public async Task<List<(string? Event, string Data)>> RestAsync(CancellationToken cancellationToken)
    {
        var events = new List<(string?, string)>();
        while (await NextAsync(cancellationToken) is { } e)
        {
            events.Add(e);
        }

        return events;
    }

    public void Dispose() => reader.Dispose();
}
