package io.instella.server;

import io.instella.core.testing.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The chat page in headless Chromium (Debian's {@code chromium} and {@code chromium-driver}; nothing is
 * downloaded): upload an image, ask, see the answer arrive in pieces; stop a long answer.
 */
class BrowserTest {
    static final List<String> BROWSERS = List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome");
    static final List<String> DRIVERS = List.of("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver");
    static InstellaServer server;
    static ChromeDriver driver;

    static Path firstExisting(List<String> paths) {
        return paths.stream().map(Path::of).filter(Files::isExecutable).findFirst().orElse(null);
    }

    @BeforeAll
    static void start() throws Exception {
        Path browser = firstExisting(BROWSERS), chromedriver = firstExisting(DRIVERS);
        if (browser == null || chromedriver == null) {
            String msg = "chromium and chromium-driver are needed for the browser test (apt-get install -y chromium chromium-driver)";
            if ("true".equals(System.getenv("CI"))) throw new IllegalStateException(msg + "; .ci/run installs them");
            Assumptions.assumeTrue(false, msg);
        }
        server = TestServers.start(TestServers.options().build());
        ChromeOptions options = new ChromeOptions();
        options.setBinary(browser.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,900", "--no-first-run", "--disable-extensions");
        // An explicit driver: Selenium Manager (which would download one) never runs.
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(chromedriver.toFile())
                .usingAnyFreePort().build();
        driver = new ChromeDriver(service, options);
        driver.manage().timeouts().scriptTimeout(Duration.ofSeconds(30));
    }

    @AfterAll
    static void stop() {
        if (driver != null) driver.quit();
        if (server != null) server.close();
    }

    @Test
    void uploadAnImageAskAndSeeAStreamedAnswer() {
        driver.get(server.url() + "/");
        WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(60));
        wait.until(d -> !d.findElement(By.id("model-name")).getText().isEmpty());
        assertThat(driver.findElement(By.id("model-name")).getText()).isEqualTo("instella-test");

        WebElement max = driver.findElement(By.id("max_tokens"));
        max.clear();
        max.sendKeys("24");
        File png = Golden.resolve("images/land640x480.png").toFile();
        driver.findElement(By.id("file")).sendKeys(png.getAbsolutePath());
        wait.until(d -> d.findElements(By.cssSelector("#previews img")).size() == 1);

        // Count how often the answer's text changes: a streamed answer changes many times.
        ((JavascriptExecutor) driver).executeScript("""
                window.__updates = 0;
                new MutationObserver(() => {
                  const c = document.querySelectorAll('.msg.assistant .content');
                  if (c.length) window.__updates++;
                }).observe(document.getElementById('messages'), {subtree: true, characterData: true, childList: true});
                """);
        driver.findElement(By.id("prompt")).sendKeys("What shapes are in this picture?");
        driver.findElement(By.id("send")).click();

        wait.until(d -> d.findElements(By.cssSelector(".msg.assistant .stats")).size() == 1);
        WebElement user = driver.findElement(By.cssSelector(".msg.user"));
        assertThat(user.findElements(By.tagName("img"))).hasSize(1);
        assertThat(user.getText()).contains("What shapes are in this picture?");
        WebElement answer = driver.findElement(By.cssSelector(".msg.assistant"));
        assertThat(answer.getAttribute("class")).doesNotContain("error");
        assertThat(answer.findElement(By.className("content")).getText()).isNotBlank();
        String stats = answer.findElement(By.className("stats")).getText();
        assertThat(stats).contains("finish: ").containsPattern("\\d+ prompt \\+ \\d+ generated tokens");
        long updates = ((Number) ((JavascriptExecutor) driver).executeScript("return window.__updates;")).longValue();
        assertThat(updates).as("the answer arrived in pieces").isGreaterThan(3);
        assertThat(driver.findElements(By.cssSelector("#previews img"))).isEmpty();

        // A new chat; a long answer stopped with the stop button ends cleanly and frees the server's slot.
        driver.findElement(By.id("clear")).click();
        assertThat(driver.findElements(By.cssSelector(".msg"))).isEmpty();
        max.clear();
        max.sendKeys("3000");
        driver.findElement(By.id("prompt")).sendKeys("Now write a very long essay.");
        driver.findElement(By.id("send")).click();
        wait.until(d -> d.findElements(By.cssSelector(".msg.assistant")).size() == 1
                && d.findElement(By.cssSelector(".msg.assistant .content")).getText().length() > 20);
        driver.findElement(By.id("stop")).click();
        wait.until(d -> d.findElements(By.cssSelector(".msg.assistant .stats")).size() == 1);
        String stopped = (String) ((JavascriptExecutor) driver).executeScript(
                "return document.querySelector('.msg.assistant .stats').textContent;");
        assertThat(stopped).as((String) ((JavascriptExecutor) driver).executeScript("return document.body.innerText;"))
                .contains("finish: stopped");
        wait.until(d -> {
            try {
                return TestServers.metric(server, "instella_sequences_running") == 0;
            } catch (Exception e) {
                return false;
            }
        });
    }
}
