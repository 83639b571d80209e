using System.Globalization;

namespace UnifiedLlm.Bench;

/// <summary>
/// nginx, from configs generated in the bench's temp directory — no system service. As the yardstick: a plain reverse
/// proxy (HTTP/1.1 keep-alive upstream connections, no response buffering); without an access log, the strictest
/// yardstick; with nginx's default one (a line per request, written as it ends), one that records each request as
/// ullmd's audit log does. As the stub upstream: nginx's own static answer (<c>return 200</c>), so that no proxy is
/// measured against an upstream slower than itself.
/// </summary>
internal static class NginxProxy
{
    /// <summary>A proxy's worker processes: one per core, as many as the threads .NET's pool starts with on this machine.</summary>
    public static int Workers => Environment.ProcessorCount;

    public static PeerProcess Start(string nginx, DirectoryInfo work, string name, int listenPort, int upstreamPort, bool accessLog)
    {
        var prefix = Directory.CreateDirectory(Path.Combine(work.FullName, name)).FullName;
        var log = accessLog ? $"access_log {prefix}/access.log;" : "access_log off;";
        var config = Path.Combine(prefix, "nginx.conf");
        File.WriteAllText(config, string.Create(CultureInfo.InvariantCulture, $$"""
            daemon off;
            master_process on;
            worker_processes {{Workers}};
            pid {{prefix}}/nginx.pid;
            error_log stderr warn;
            events { worker_connections 4096; }
            http {
                {{log}}
                client_body_temp_path {{prefix}}/client_body;
                proxy_temp_path {{prefix}}/proxy;
                fastcgi_temp_path {{prefix}}/fastcgi;
                uwsgi_temp_path {{prefix}}/uwsgi;
                scgi_temp_path {{prefix}}/scgi;
                upstream stub {
                    server 127.0.0.1:{{upstreamPort}};
                    keepalive 512;
                    keepalive_requests 10000000;
                }
                server {
                    listen 127.0.0.1:{{listenPort}};
                    # Kestrel and SocketsHttpHandler keep a connection for any number of requests; nginx's default
                    # closes it after 1000, which would make nginx alone pay for reconnecting.
                    keepalive_requests 10000000;
                    location / {
                        proxy_pass http://stub;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_buffering off;
                    }
                }
            }
            """));
        return PeerProcess.Start(nginx, ["-p", prefix, "-c", config, "-e", "stderr"]);
    }

    /// <summary>The stub upstream: a fixed chat completion from nginx's <c>return 200</c>, from one worker process.</summary>
    public static PeerProcess StartStub(string nginx, DirectoryInfo work, int listenPort, string completionJson)
    {
        var prefix = Directory.CreateDirectory(Path.Combine(work.FullName, "nginx-stub")).FullName;
        var config = Path.Combine(prefix, "nginx.conf");
        File.WriteAllText(config, string.Create(CultureInfo.InvariantCulture, $$"""
            daemon off;
            master_process on;
            worker_processes 1;
            pid {{prefix}}/nginx.pid;
            error_log stderr warn;
            events { worker_connections 8192; }
            http {
                access_log off;
                client_body_temp_path {{prefix}}/client_body;
                proxy_temp_path {{prefix}}/proxy;
                fastcgi_temp_path {{prefix}}/fastcgi;
                uwsgi_temp_path {{prefix}}/uwsgi;
                scgi_temp_path {{prefix}}/scgi;
                server {
                    listen 127.0.0.1:{{listenPort}};
                    keepalive_requests 10000000;
                    location / {
                        default_type application/json;
                        return 200 '{{completionJson}}';
                    }
                }
            }
            """));
        return PeerProcess.Start(nginx, ["-p", prefix, "-c", config, "-e", "stderr"]);
    }
}
