/* test_hub.c: model lookup by Hugging Face repo id against a local stand-in
 * hub (tests/hub/hub_server.js, Node, on 127.0.0.1): download into the
 * standard cache layout, byte-identical files, later lookups from the cache
 * with the server gone, unknown repos, offline errors, resume after a broken
 * transfer, sha256 mismatch, and HF_TOKEN for a private repo. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mx/lm.h"

static char g_tmp[256];
static pid_t g_server = -1;

static bool start_server(const char *extra) {
  char portfile[512], logfile[512], cmd[4096];
  snprintf(portfile, sizeof portfile, "%s/port", g_tmp);
  snprintf(logfile, sizeof logfile, "%s/server.log", g_tmp);
  remove(portfile);
  g_server = fork();
  if (g_server == 0) {
    char repo1[1024], repo2[1024];
    snprintf(repo1, sizeof repo1, "org/tiny=%s",
             mxt_src_path("tests/fixtures/models/tiny-qwen3"));
    snprintf(repo2, sizeof repo2, "org/private=%s",
             mxt_src_path("tests/fixtures/models/tiny-llama-tied"));
    snprintf(cmd, sizeof cmd, "%s", mxt_src_path("tests/hub/hub_server.js"));
    execlp("node", "node", cmd, portfile, logfile, repo1, repo2, "--private=org/private",
           extra ? extra : "--none=x", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200; i++) {
    FILE *f = fopen(portfile, "r");
    if (f) {
      int port = 0;
      if (fscanf(f, "%d", &port) == 1 && port > 0) {
        fclose(f);
        char ep[64];
        snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
        setenv("HF_ENDPOINT", ep, 1);
        return true;
      }
      fclose(f);
    }
    usleep(50000);
  }
  return false;
}

static void stop_server(void) {
  if (g_server > 0) {
    kill(g_server, SIGTERM);
    waitpid(g_server, NULL, 0);
  }
  g_server = -1;
}

static bool same_file(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  bool same = fa && fb;
  while (same) {
    int x = fgetc(fa), y = fgetc(fb);
    if (x != y) same = false;
    if (x == EOF || y == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

static void fresh_home(const char *name) {
  char home[512];
  snprintf(home, sizeof home, "%s/%s", g_tmp, name);
  mkdir(home, 0755);
  setenv("HF_HOME", home, 1);
  unsetenv("HF_HUB_CACHE");
  unsetenv("HF_TOKEN");
  unsetenv("HF_HUB_OFFLINE");
}

static void test_download_and_cache(void) {
  fresh_home("home1");
  MXT_CHECK(start_server(NULL), "server started");
  char dir[4096];
  mx_status rc = mx_hub_resolve("org/tiny", true, dir, sizeof dir);
  MXT_CHECK(rc == MX_OK, "download: %s", mx_last_error());
  mx_clear_error();
  const char *files[] = {"config.json", "model.safetensors", "generation_config.json"};
  for (int i = 0; i < 3; i++) {
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/%s", dir, files[i]);
    snprintf(b, sizeof b, "%s/%s", mxt_src_path("tests/fixtures/models/tiny-qwen3"),
             files[i]);
    MXT_CHECK(same_file(a, b), "%s identical", files[i]);
    struct stat st;
    MXT_CHECK(lstat(a, &st) == 0 && S_ISLNK(st.st_mode), "%s is a symlink into blobs",
              files[i]);
  }
  char ref[1024];
  snprintf(ref, sizeof ref, "%s/hub/models--org--tiny/refs/main", getenv("HF_HOME"));
  FILE *f = fopen(ref, "r");
  char sha[128] = "";
  if (f) {
    if (!fgets(sha, sizeof sha, f)) sha[0] = 0;
    fclose(f);
  }
  MXT_CHECK(strlen(sha) == 40 && strstr(dir, sha), "refs/main names the snapshot (%s)",
            sha);
  stop_server();
  /* the server is gone: the cache answers */
  char dir2[4096];
  rc = mx_hub_resolve("org/tiny", true, dir2, sizeof dir2);
  MXT_CHECK(rc == MX_OK && !strcmp(dir, dir2), "cached lookup: %s", mx_last_error());
  mx_clear_error();
  /* not cached and offline */
  rc = mx_hub_resolve("org/other", true, dir2, sizeof dir2);
  MXT_CHECK(rc == MX_ERR_IO && strstr(mx_last_error(), "cannot download"), "offline: %s",
            mx_last_error());
  mx_clear_error();
  setenv("HF_HUB_OFFLINE", "1", 1);
  rc = mx_hub_resolve("org/other", true, dir2, sizeof dir2);
  MXT_CHECK(rc == MX_ERR_IO && strstr(mx_last_error(), "not in the Hugging Face cache"),
            "HF_HUB_OFFLINE: %s", mx_last_error());
  mx_clear_error();
  unsetenv("HF_HUB_OFFLINE");
  /* a model found through HF_HUB_CACHE directly */
  char hubdir[600];
  snprintf(hubdir, sizeof hubdir, "%s/hub", getenv("HF_HOME"));
  setenv("HF_HUB_CACHE", hubdir, 1);
  setenv("HF_HOME", "/nonexistent", 1);
  rc = mx_hub_resolve("org/tiny", false, dir2, sizeof dir2);
  MXT_CHECK(rc == MX_OK, "HF_HUB_CACHE lookup: %s", mx_last_error());
  mx_clear_error();
}

static void test_errors(void) {
  fresh_home("home2");
  MXT_CHECK(start_server(NULL), "server started");
  char dir[4096];
  mx_status rc = mx_hub_resolve("org/missing", true, dir, sizeof dir);
  MXT_CHECK(rc == MX_ERR_IO && strstr(mx_last_error(), "not found"), "unknown repo: %s",
            mx_last_error());
  mx_clear_error();
  rc = mx_hub_resolve("not a repo", true, dir, sizeof dir);
  MXT_CHECK(rc == MX_ERR_IO && strstr(mx_last_error(), "neither"), "bad id: %s",
            mx_last_error());
  mx_clear_error();
  rc = mx_hub_resolve("../etc/passwd", true, dir, sizeof dir);
  MXT_CHECK(rc != MX_OK, "path traversal rejected");
  mx_clear_error();
  /* private repo: refused without a token, fetched with it */
  rc = mx_hub_resolve("org/private", true, dir, sizeof dir);
  MXT_CHECK(rc == MX_ERR_IO && strstr(mx_last_error(), "HF_TOKEN"), "private: %s",
            mx_last_error());
  mx_clear_error();
  setenv("HF_TOKEN", "secret-token", 1);
  rc = mx_hub_resolve("org/private", true, dir, sizeof dir);
  MXT_CHECK(rc == MX_OK, "with token: %s", mx_last_error());
  mx_clear_error();
  stop_server();
}

static void test_resume(void) {
  fresh_home("home3");
  MXT_CHECK(start_server("--truncate-once=model.safetensors"), "server started");
  char dir[4096];
  mx_status rc = mx_hub_resolve("org/tiny", true, dir, sizeof dir);
  MXT_CHECK(rc == MX_ERR_IO, "broken transfer reported: %s", mx_last_error());
  mx_clear_error();
  rc = mx_hub_resolve("org/tiny", true, dir, sizeof dir);
  MXT_CHECK(rc == MX_OK, "resumed: %s", mx_last_error());
  mx_clear_error();
  char a[4200];
  snprintf(a, sizeof a, "%s/model.safetensors", dir);
  MXT_CHECK(
      same_file(a, mxt_src_path("tests/fixtures/models/tiny-qwen3/model.safetensors")),
      "resumed file identical");
  char logp[512], cmd[1024];
  snprintf(logp, sizeof logp, "%s/server.log", g_tmp);
  snprintf(cmd, sizeof cmd, "grep -q 'model.safetensors range=bytes=[1-9]' %s", logp);
  MXT_CHECK(system(cmd) == 0, "second request asked for a byte range");
  stop_server();
}

static void test_corrupt(void) {
  fresh_home("home4");
  MXT_CHECK(start_server("--corrupt=model.safetensors"), "server started");
  char dir[4096];
  mx_status rc = mx_hub_resolve("org/tiny", true, dir, sizeof dir);
  MXT_CHECK(rc == MX_ERR_IO && strstr(mx_last_error(), "sha256 mismatch"), "corrupt: %s",
            mx_last_error());
  mx_clear_error();
  stop_server();
}

int main(void) {
  if (system("node --version > /dev/null 2>&1") != 0) {
    fprintf(stderr, "test_hub: node is required (scripts/install-deps.sh installs it)\n");
    return 1;
  }
  snprintf(g_tmp, sizeof g_tmp, "/tmp/mx_hub_XXXXXX");
  if (!mkdtemp(g_tmp)) return 1;
  MXT_RUN(test_download_and_cache);
  MXT_RUN(test_errors);
  MXT_RUN(test_resume);
  MXT_RUN(test_corrupt);
  stop_server();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
  return mxt_finish();
}
