using System.Text;

namespace UnifiedLlm.Bench.ColdLoad;

/// <summary>A streamed chat completion, timed to its first content token and then read to its end.</summary>
internal static class StreamedChat
{
    /// <summary>The wall-clock moment the first content token arrived.</summary>
    public static async Task<DateTimeOffset> FirstTokenAsync(HttpClient client, Uri chat, string model, CancellationToken cancellationToken)
    {
        var body = $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hello"}],"max_tokens":8,"ignore_eos":true,"temperature":0,"stream":true}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, chat) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"chat with {model} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        DateTimeOffset? first = null;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (first is null && line.StartsWith("data: ", StringComparison.Ordinal)
                && line.Contains("\"content\":\"", StringComparison.Ordinal) && !line.Contains("\"content\":\"\"", StringComparison.Ordinal))
            {
                first = DateTimeOffset.UtcNow;
            }
        }

        return first ?? throw new InvalidOperationException($"the stream from {model} had no content token");
    }
}
