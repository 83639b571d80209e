using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;

namespace UnifiedLlm.Ctl.Mcp;

/// <summary>Sends one chat completion through ullmd's OpenAI-compatible API on its unix socket.</summary>
internal sealed class GatewayChat(HttpClient http, string socketPath)
{
    public async Task<string> SendAsync(string model, string prompt, string? system, int? maxTokens, bool full, CancellationToken cancellationToken)
    {
        var messages = new JsonArray();
        if (!string.IsNullOrEmpty(system))
        {
            messages.Add((JsonNode)new JsonObject { ["role"] = "system", ["content"] = system });
        }

        messages.Add((JsonNode)new JsonObject { ["role"] = "user", ["content"] = prompt });
        var body = new JsonObject { ["model"] = model, ["messages"] = messages };
        if (maxTokens is { } max)
        {
            body["max_tokens"] = max;
        }

        HttpResponseMessage response;
        try
        {
            response = await http.PostAsync("/v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException)
        {
            throw new McpException($"cannot reach ullmd's OpenAI API on {socketPath}: {e.InnerException.Message}");
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new McpException($"ullmd answered {(int)response.StatusCode} {response.ReasonPhrase}: {Shorten(text)}");
            }

            if (full)
            {
                return text;
            }

            try
            {
                using var document = JsonDocument.Parse(text);
                var root = document.RootElement;
                var content = root.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() ?? "";
                var served = root.TryGetProperty("model", out var m) ? m.GetString() : model;
                var usage = root.TryGetProperty("usage", out var u) && u.TryGetProperty("total_tokens", out var t) ? $", {t.GetInt64()} tokens" : "";
                return $"{content}\n\n(model {served}{usage})";
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
            {
                throw new McpException($"ullmd's answer is not an OpenAI chat completion ({e.Message}): {Shorten(text)}");
            }
        }
    }

    private static string Shorten(string text) => text.Length <= 500 ? text : text[..500] + "…";
}
