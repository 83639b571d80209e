using System.CommandLine;
using Google.Protobuf.WellKnownTypes;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class KeysCommand
{
    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "A unique name for the key", Required = true };
        var models = new Option<string[]>("--models") { Description = "Models the key may use (default: all)", AllowMultipleArgumentsPerToken = true };
        var rpm = new Option<uint>("--rpm") { Description = "Requests per minute (0: the server default)" };
        var tpm = new Option<ulong>("--tpm") { Description = "Tokens per minute (0: the server default)" };
        var expires = new Option<string?>("--expires") { Description = "Expiry time (local unless it has an offset), e.g. 2027-01-31 or 2027-01-31T12:00:00Z" };
        var create = new Command("create", "Create a key; its secret is printed once and never again") { name, models, rpm, tpm, expires };
        create.WithAction(async (parse, client, json, ct) =>
        {
            var request = new CreateApiKeyRequest { Name = parse.GetValue(name)!, RequestsPerMinute = parse.GetValue(rpm), TokensPerMinute = parse.GetValue(tpm) };
            if (parse.GetValue(expires) is { } expiresText)
            {
                if (!TimeArgument.TryParseTime(expiresText, out var t))
                {
                    return CtlErrors.Fail(json, CtlErrors.Usage, Grpc.Core.StatusCode.InvalidArgument, $"--expires '{expiresText}' is not a time (2027-01-31, 2027-01-31T12:00:00Z)");
                }

                request.ExpiresAt = Timestamp.FromDateTimeOffset(t);
            }

            request.Models.AddRange(parse.GetValue(models) ?? []);
            var response = await client.CreateApiKeyAsync(request, cancellationToken: ct);
            Printer.Write(json, response, () =>
                $"created key '{response.Key.Name}' (id {response.Key.Id})\n{response.Secret}\nstore this secret now: ullmd keeps only its hash\n");
            return CtlErrors.Ok;
        });

        var all = new Option<bool>("--all") { Description = "Include revoked keys" };
        var list = new Command("list", "API keys (never their secrets)") { all };
        list.WithAction(async (parse, client, json, ct) =>
        {
            var response = await client.ListApiKeysAsync(new ListApiKeysRequest { IncludeRevoked = parse.GetValue(all) }, cancellationToken: ct);
            Printer.Write(json, response, () =>
            {
                var table = new Table("ID", "NAME", "PREFIX", "MODELS", "RPM", "TPM", "CREATED", "EXPIRES", "LAST USED", "REVOKED");
                foreach (var k in response.Keys)
                {
                    table.Add(k.Id, k.Name, k.Prefix + "…", k.Models.Count == 0 ? "all" : string.Join(',', k.Models), k.RequestsPerMinute,
                        k.TokensPerMinute, Printer.Time(k.CreatedAt), Printer.Time(k.ExpiresAt), Printer.Time(k.LastUsedAt), Printer.Time(k.RevokedAt));
                }

                return table.Count == 0 ? "no API keys\n" : table.Render();
            });
            return CtlErrors.Ok;
        });

        var id = new Argument<string>("ID") { Description = "The key's id or name" };
        var revoke = new Command("revoke", "Revoke a key at once") { id };
        revoke.WithAction(async (parse, client, json, ct) =>
        {
            var response = await client.RevokeApiKeyAsync(new RevokeApiKeyRequest { Id = parse.GetValue(id)! }, cancellationToken: ct);
            Printer.Write(json, response, () => $"revoked key '{response.Key.Name}' (id {response.Key.Id})\n");
            return CtlErrors.Ok;
        });

        return new Command("keys", "Manage API keys for the OpenAI-compatible API") { create, list, revoke };
    }
}
