using System.CommandLine;
using Grpc.Core;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>
/// <c>ullmctl doctor</c>: the host and config audit ullmd runs (the admin API's Doctor), printed with a severity, what was
/// checked and the fix for each finding; the exit code follows the worst finding. Files named on the command line are
/// read here, as the caller, and sent as text: ullmd never opens a path a client names. When ullmd cannot be reached,
/// the same audit runs without it (<see cref="OfflineDoctor"/>) and the exit code is the unreachable daemon's.
/// </summary>
internal static class DoctorCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "Audit this config file instead of the one ullmd runs (read by ullmctl, checked with ullmd's loader)" };
        var certs = new Option<string[]>("--cert") { Description = "A PEM certificate to check (validity, expiry within 30 days); repeatable" };
        var keys = new Option<string[]>("--key") { Description = "The PEM private key of the --cert at the same position; checks that it matches" };
        var command = new Command("doctor", "Audit the host and the config: sockets, data_dir, secrets, anonymous access, keys, systemd, NVML, sandbox paths, listeners, certificates")
        {
            config,
            certs,
            keys,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var json = parse.GetValue(CtlContext.Json);
            var socket = AdminConnection.ResolveSocket(parse.GetValue(CtlContext.Socket));
            DoctorRequest request;
            try
            {
                request = await RequestAsync(parse.GetValue(config), parse.GetValue(certs) ?? [], parse.GetValue(keys) ?? [], cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                return CtlErrors.Fail(json, CtlErrors.Usage, StatusCode.InvalidArgument, e.Message);
            }

            DoctorResponse response;
            try
            {
                using var channel = AdminConnection.Open(socket);
                response = await new UnifiedLlm.Admin.V1.Admin.AdminClient(channel).DoctorAsync(request, cancellationToken: cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var (code, _, message) = CtlErrors.Describe(e, socket);
                if (code != CtlErrors.DaemonUnreachable)
                {
                    return CtlErrors.Report(e, socket, json);
                }

                // ullmd is down: the admin most needs the audit now, so ullmd runs it in-process (ullmd --doctor).
                response = await OfflineDoctor.RunAsync(socket, message, parse.GetValue(config), parse.GetValue(certs) ?? [], parse.GetValue(keys) ?? [], cancellationToken);
                Printer.Write(json, response, response.Render);
                return code;
            }

            Printer.Write(json, response, response.Render);
            return response.ExitCode;
        });
        return command;
    }

    /// <summary>The request for a config file and certificates (with keys paired by position), each read as the caller.</summary>
    public static async Task<DoctorRequest> RequestAsync(string? configPath, IReadOnlyList<string> certificates, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        var request = new DoctorRequest();
        request.Certificates.AddRange(await DoctorCertificates.ReadAsync(certificates, keys, cancellationToken));
        if (configPath is { Length: > 0 })
        {
            request.ConfigPath = Path.GetFullPath(configPath);
            request.ConfigToml = await File.ReadAllTextAsync(configPath, cancellationToken);
        }

        return request;
    }
}
