"""The commune's web portal (`rasoat serve`): officers sign in, download the lists their role allows,
read the quality report, watch the dashboard and upload corrections that start a rerun.

Modules, from pure to IO:

* `access`    who may see which file of a publication, and safe path resolution (pure);
* `security`  password hashing, CSRF tokens, the sign-in throttle, session expiry (clock injected);
* `charts`    inline SVG bar charts drawn on the server (pure);
* `pubs`      reading publications: manifests, file lists, the small aggregate tables;
* `store`     the portal's SQLite file: accounts, sessions, audit log, reruns;
* `rerun`     the background rerun after an upload;
* `app`       the Starlette application: thin handlers that call the above.
"""
