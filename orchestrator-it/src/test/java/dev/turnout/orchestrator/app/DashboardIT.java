package dev.turnout.orchestrator.app;

import dev.turnout.testsupport.Requirements;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The dashboard in a real headless Chromium: a person watches devices take a release without
 * reloading the page, filters the fleet, pauses a rollout (after cancelling once), resumes and
 * approves it, and reads a device's history.
 */
class DashboardIT {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path work;

    private TestFleet fleet;
    private WebDriver browser;

    @AfterEach
    void tearDown() {
        if (browser != null) {
            browser.quit();
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void anOperatorWatchesARolloutLiveAndPausesIt() throws Exception {
        requireChromium();
        fleet = TestFleet.start(work.resolve("server"));
        fleet.createReleases("1.0.0", "2.0.0");
        List<ScriptedDevice> devices = List.of(
                fleet.device("dash-a", Map.of("site", "attic"), Set.of()),
                fleet.device("dash-b", Map.of("site", "yard"), Set.of()),
                fleet.device("dash-c", Map.of("site", "yard"), Set.of("2.0.0")));
        await().atMost(WAIT).until(() -> fleet.countOnline() == 3);
        browser = chromium();
        WebDriverWait wait = waiting();

        browser.get(fleet.url() + "/");
        signIn(fleet.server.operatorToken());
        wait.until(d -> rows().size() == 3);
        assertThat(rows()).allSatisfy(row -> assertThat(row.get("online")).contains("online"));
        assertThat(text("#count-online")).contains("3");
        ((JavascriptExecutor) browser).executeScript("window.notReloaded = true;");

        // a release goes out; the page follows without a reload
        String v1 = fleet.rollout("1.0.0", "1,100%", "pause", false);
        wait.until(d -> rows().stream().allMatch(r -> r.get("running").equals("1.0.0")));
        for (int i = 0; i < devices.size(); i++) {
            devices.get(i).publishHealth(12.0 + 20 * i, 48.0 + 3 * i);
        }
        wait.until(d -> rows().stream().allMatch(r -> r.get("health").contains("CPU")));
        assertThat(((JavascriptExecutor) browser).executeScript("return window.notReloaded === true")).isEqualTo(true);
        assertThat(rows().get(0).get("state")).isEqualTo("ACTIVE");
        wait.until(d -> text("#rollouts-table tr[data-rollout='" + v1 + "']").contains("SUCCEEDED"));
        screenshot("dashboard-fleet.png"); // docs/dashboard.png is a copy of it

        // filter and search
        browser.findElement(By.id("search")).sendKeys("dash-b");
        wait.until(d -> rows().size() == 1);
        assertThat(rows().get(0).get("id")).isEqualTo("dash-b");
        browser.findElement(By.id("search")).clear();
        browser.findElement(By.id("search")).sendKeys(" ");
        new Select(browser.findElement(By.id("label-filter"))).selectByValue("label:site=yard");
        wait.until(d -> rows().size() == 2);
        assertThat(rows()).extracting(r -> r.get("id")).containsExactly("dash-b", "dash-c");

        // the next release waits for approval after the canary; the operator opens it from the fleet page
        String v2 = fleet.rollout("2.0.0", "1,100%", "pause", true, "1");
        wait.until(ExpectedConditions.elementToBeClickable(By.cssSelector("#rollouts-table tr[data-rollout='" + v2 + "'] a"))).click();
        wait.until(d -> text("#rollout-reason").contains("waiting for approval"));
        wait.until(d -> text("#waves-table tr[data-wave='1'] .c-active").equals("1"));
        assertThat(text("#waves-table tr[data-wave='2'] .c-active")).isEqualTo("0");
        assertThat(text("#waves-table tr[data-wave='2'] .c-staged")).isEqualTo("2");
        wait.until(d -> text("#timeline").contains("wave completed (wave 1)"));
        assertThat(text("#timeline")).contains("wave started (wave 1)");

        // pause asks first; cancelling changes nothing
        browser.findElement(By.id("btn-pause")).click();
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("confirm")));
        assertThat(text("#confirm-text")).contains("Pause rollout " + v2);
        browser.findElement(By.id("confirm-cancel")).click();
        wait.until(ExpectedConditions.invisibilityOfElementLocated(By.id("confirm")));
        assertThat(fleet.state(v2)).isEqualTo("RUNNING");

        browser.findElement(By.id("btn-pause")).click();
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("confirm")));
        browser.findElement(By.id("confirm-ok")).click();
        wait.until(d -> text("#rollout-state").equals("PAUSED"));
        assertThat(fleet.state(v2)).isEqualTo("PAUSED");
        assertThat(fleet.getJson("/api/v1/rollouts/" + v2).path("reason").asText()).isEqualTo("paused by admin"); // the operator token signs in as the built-in admin
        assertThat(browser.findElement(By.id("btn-pause")).isEnabled()).isFalse();
        assertThat(browser.findElement(By.id("btn-approve")).isEnabled()).isFalse();
        wait.until(d -> text("#timeline").contains("admin: pause"));

        // resume, then approve the second wave: one device fails health (tolerated), the rollout finishes on the page
        confirmed("btn-resume");
        wait.until(d -> browser.findElement(By.id("btn-approve")).isEnabled());
        confirmed("btn-approve");
        wait.until(d -> text("#rollout-state").equals("SUCCEEDED"));
        assertThat(text("#waves-table tr[data-wave='2'] .c-active")).isEqualTo("1");
        assertThat(text("#waves-table tr[data-wave='2'] .c-failed")).isEqualTo("1");
        assertThat(text("#rollout-reason")).contains("1 device(s) failed within maxFailures");
        assertThat(text("#rollout-devices tr[data-device='dash-c']")).contains("FAILED").contains("the health check failed");
        assertThat(fleet.state(v2)).isEqualTo("SUCCEEDED");
        screenshot("dashboard-rollout.png");

        // the failed device's own page: what it said, in plain words, and its history from the audit trail
        waiting().until(ExpectedConditions.elementToBeClickable(By.cssSelector("#rollout-devices tr[data-device='dash-c'] a"))).click();
        wait.until(d -> text("#device-title").equals("Device dash-c"));
        wait.until(d -> text("#device-audit").contains("device.status"));
        assertThat(text("#device-status")).contains("web 2.0.0 ROLLED_BACK because the health check failed");
        assertThat(text("#device-audit")).contains("web:2.0.0 ROLLED_BACK (the health check failed)").contains("device.enroll");
        assertThat(text("#device-apps tr[data-app='web']")).contains("1.0.0").contains("ROLLED_BACK");
        // why it failed, in the app's own words: the last lines of its log, as text (never as markup)
        String log = ScriptedDevice.failureLog("web", "2.0.0");
        wait.until(d -> text("#device-apps tr[data-app='web'] .log-tail pre").equals(log));
        assertThat(text("#device-apps tr[data-app='web'] .log-tail summary")).isEqualTo("Last 2 log lines of the container");
        wait.until(d -> textContent("#device-audit .log-tail pre").equals(log));
        assertThat(((JavascriptExecutor) browser).executeScript("return document.querySelectorAll('.log-tail pre b').length"))
                .isEqualTo(0L);
        screenshot("dashboard-device.png");

        // back on the fleet page, filtering by state finds the device that rolled back, still on 1.0.0
        browser.findElement(By.linkText("← Fleet")).click();
        wait.until(d -> rows().size() == 3);
        new Select(browser.findElement(By.id("state-filter"))).selectByValue("ROLLED_BACK");
        wait.until(d -> rows().size() == 1);
        assertThat(rows().get(0)).containsEntry("id", "dash-c").containsEntry("running", "1.0.0");
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void theDashboardAsksForTheTokenOnceRefusesDataWithoutItAndSignsOut() throws Exception {
        requireChromium();
        fleet = TestFleet.start(work.resolve("server"));
        fleet.device("dash-login", Map.of("site", "attic"), Set.of());
        await().atMost(WAIT).until(() -> fleet.countOnline() == 1);
        browser = chromium();
        WebDriverWait wait = waiting();

        // not signed in: the sign-in form, no fleet, and the API refuses the page's requests
        browser.get(fleet.url() + "/");
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("login-token")));
        assertThat(browser.findElement(By.id("view")).isDisplayed()).isFalse();
        assertThat(status("/api/v1/devices")).isEqualTo(401);
        assertThat(status("/api/events")).isEqualTo(401);
        assertThat(status("/metrics")).isEqualTo(401);

        // a wrong token is refused and nothing opens
        browser.findElement(By.id("login-token")).sendKeys("not-the-token");
        browser.findElement(By.id("login-submit")).click();
        wait.until(d -> text("#login-error").contains("wrong operator token"));
        assertThat(browser.findElement(By.id("view")).isDisplayed()).isFalse();
        assertThat(status("/api/v1/devices")).isEqualTo(401);

        // the right one opens the fleet; the session cookie is out of the page's reach (HttpOnly)
        signIn(fleet.server.operatorToken());
        wait.until(d -> rows().size() == 1);
        wait.until(d -> text("#live").equals("live"));
        assertThat(status("/api/v1/devices")).isEqualTo(200);
        assertThat(((JavascriptExecutor) browser).executeScript("return document.cookie")).asString().doesNotContain("turnout_session");
        assertThat(browser.manage().getCookieNamed("turnout_session").isHttpOnly()).isTrue();
        assertThat(browser.manage().getCookieNamed("turnout_session").getSameSite()).isEqualTo("Strict");

        // once: a reload stays signed in
        browser.navigate().refresh();
        wait.until(d -> rows().size() == 1);
        assertThat(browser.findElement(By.id("login")).isDisplayed()).isFalse();

        // signing out ends the session on the server too
        String cookie = browser.manage().getCookieNamed("turnout_session").getValue();
        browser.findElement(By.id("logout")).click();
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("login-token")));
        assertThat(status("/api/v1/devices")).isEqualTo(401);
        java.net.http.HttpResponse<String> replayed = fleet.http.send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create(fleet.url() + "/api/v1/devices")).header("Cookie", "turnout_session=" + cookie).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(replayed.statusCode()).isEqualTo(401);

        // a viewer signs in by name: the page says who is signed in and offers no rollout action (the server refuses them too)
        assertThat(fleet.post("/api/v1/operators", "{\"name\":\"vio\",\"role\":\"viewer\",\"password\":\"vio-long-password\"}")
                .statusCode()).isEqualTo(201);
        fleet.createReleases("1.0.0");
        String rollout = fleet.rollout("1.0.0", "1,100%", "pause", true);
        signIn("vio", "vio-long-password");
        wait.until(d -> text("#who").equals("vio (viewer)"));
        assertThat(browser.findElement(By.id("nav-admin")).isDisplayed()).as("a viewer has no Admin page").isFalse();
        assertThat(status("/api/v1/keys/rotate", "POST")).isEqualTo(403);
        browser.get(fleet.url() + "/#/rollouts/" + rollout);
        wait.until(d -> text("#rollout-title").contains(rollout));
        assertThat(browser.findElement(By.cssSelector(".actions")).isDisplayed()).isFalse();
        assertThat(browser.findElements(By.cssSelector(".actions button"))).hasSize(5).noneMatch(WebElement::isEnabled);
        assertThat(status("/api/v1/rollouts/" + rollout + "/abort", "POST")).isEqualTo(403);
        assertThat(fleet.state(rollout)).isNotEqualTo("ABORTED");
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void anAdminRotatesTheSigningKeyAndSeesWebhooksOnTheAdminPage() throws Exception {
        requireChromium();
        fleet = TestFleet.start(work.resolve("server"));
        fleet.device("dash-keys", Map.of("site", "attic"), Set.of());
        await().atMost(WAIT).until(() -> fleet.countOnline() == 1);
        assertThat(fleet.post("/api/v1/webhooks", "{\"url\":\"http://127.0.0.1:9/hook\",\"events\":[\"rollout.*\"]}")
                .statusCode()).isEqualTo(201);
        browser = chromium();
        WebDriverWait wait = waiting();
        browser.get(fleet.url() + "/");
        signIn(fleet.server.operatorToken());
        wait.until(ExpectedConditions.elementToBeClickable(By.id("nav-admin"))).click();
        wait.until(d -> keyRoles().equals(List.of("active")));
        String first = keyIds().get(0);
        assertThat(text("#keys-table tr[data-key] .trusting")).isEqualTo("1 of 1");
        assertThat(text("#webhooks-table tbody")).contains("http://127.0.0.1:9/hook").contains("rollout.*");
        assertThat(text("#operators-table tbody")).contains("admin");
        assertThat(browser.findElement(By.id("backup-download")).getAttribute("href")).endsWith("/api/v1/backup");
        assertThat(status("/api/v1/backup?artifacts=false")).as("the session may download a backup").isEqualTo(200);

        // rotate: a next key appears, and the device says it trusts it (from its next desired state)
        confirmed("key-rotate");
        wait.until(d -> keyRoles().equals(List.of("next", "active")));
        wait.until(d -> text("#keys-table tr[data-key]:first-child .trusting").equals("1 of 1"));
        assertThat(browser.findElement(By.id("key-rotate")).isEnabled()).as("one rotation at a time").isFalse();

        // activate: the new key signs, the first stays trusted as previous and can be retired
        confirmed("key-activate");
        wait.until(d -> keyRoles().equals(List.of("active", "previous")));
        assertThat(keyIds()).containsExactly(fleet.getJson("/api/v1/keys").get("activeKeyId").asText(), first);
        assertThat(keyIds().get(0)).isNotEqualTo(first);
        wait.until(ExpectedConditions.elementToBeClickable(By.cssSelector("button[data-retire='" + first + "']"))).click();
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("confirm")));
        browser.findElement(By.id("confirm-ok")).click();
        wait.until(d -> keyRoles().equals(List.of("active")));
        assertThat(fleet.getJson("/api/v1/audit").toString()).contains("key.rotate", "key.activate", "key.retire");
    }

    @SuppressWarnings("unchecked")
    private List<String> keyRoles() {
        return (List<String>) ((JavascriptExecutor) browser).executeScript(
                "return [...document.querySelectorAll('#keys-table tr[data-key] .badge')].map(b => b.innerText.trim());");
    }

    @SuppressWarnings("unchecked")
    private List<String> keyIds() {
        return (List<String>) ((JavascriptExecutor) browser).executeScript(
                "return [...document.querySelectorAll('#keys-table tr[data-key]')].map(r => r.dataset.key);");
    }

    private void signIn(String token) {
        signIn("", token);
    }

    /** Signs in as {@code name} with {@code secret}; an empty name signs in with the operator token. */
    private void signIn(String name, String secret) {
        WebDriverWait wait = waiting();
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("login-token"))).clear();
        browser.findElement(By.id("login-name")).clear();
        browser.findElement(By.id("login-name")).sendKeys(name);
        browser.findElement(By.id("login-token")).sendKeys(secret);
        browser.findElement(By.id("login-submit")).click();
        wait.until(ExpectedConditions.invisibilityOfElementLocated(By.id("login")));
    }

    /** The status the browser gets for a same-origin fetch (with its cookies, if any). */
    private long status(String path) {
        return status(path, "GET");
    }

    private long status(String path, String method) {
        Object status = ((JavascriptExecutor) browser).executeAsyncScript("""
                const done = arguments[arguments.length - 1];
                const ctl = new AbortController();
                fetch(arguments[0], { method: arguments[1], credentials: 'same-origin', signal: ctl.signal })
                  .then(r => { done(r.status); ctl.abort(); }).catch(e => done(-1));""", path, method);
        return ((Number) status).longValue();
    }

    private void confirmed(String button) {
        WebDriverWait wait = waiting();
        wait.until(ExpectedConditions.elementToBeClickable(By.id(button))).click();
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("confirm")));
        browser.findElement(By.id("confirm-ok")).click();
        wait.until(ExpectedConditions.invisibilityOfElementLocated(By.id("confirm")));
    }

    private void screenshot(String name) throws java.io.IOException {
        Path shot = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath();
        Files.copy(shot, Path.of("target", name), StandardCopyOption.REPLACE_EXISTING);
    }

    private WebDriverWait waiting() {
        WebDriverWait wait = new WebDriverWait(browser, WAIT);
        wait.ignoring(StaleElementReferenceException.class); // live updates re-render what a wait looks at
        return wait;
    }

    /** The fleet table as a person reads it, taken in one go (the page re-renders on live events). */
    @SuppressWarnings("unchecked")
    private List<Map<String, String>> rows() {
        return (List<Map<String, String>>) ((JavascriptExecutor) browser).executeScript("""
                const text = (row, css) => (row.querySelector(css) || {}).innerText || '';
                return [...document.querySelectorAll('#fleet-table tbody tr[data-device]')].map(r => ({
                  id: r.dataset.device, online: text(r, '.online'), running: text(r, '.app[data-app=web] .running'),
                  state: text(r, '.app[data-app=web] .state').trim(), health: text(r, '.health')}));""");
    }

    private String text(String css) {
        Object text = ((JavascriptExecutor) browser).executeScript(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css);
        return String.valueOf(text).trim();
    }

    /** The text of an element whether or not it is shown (inside a closed details element, say). */
    private String textContent(String css) {
        Object text = ((JavascriptExecutor) browser).executeScript(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css);
        return String.valueOf(text).trim();
    }

    private static void requireChromium() {
        Requirements.require(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
                "Chromium and ChromeDriver (apt-get install chromium chromium-driver)");
    }

    private static WebDriver chromium() {
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,900");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
        return new ChromeDriver(service, options);
    }
}
