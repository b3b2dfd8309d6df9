"""A real browser (headless Debian Chromium) signs in, creates a dataset,
uploads a file and finds the dataset by search, using only the keyboard-
and form-driven pages (no JavaScript of ours is involved).

usage: browser_flow.py BASE_URL USER PASSWORD UPLOAD_FILE CHROMIUM
"""
import sys

from playwright.sync_api import sync_playwright

base, user, password, upload_file, chromium = sys.argv[1:6]

with sync_playwright() as playwright:
    browser = playwright.chromium.launch(
        executable_path=chromium,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    )
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone

    print("- home page in Spanish, with a skip link first in tab order", flush=True)
    page.goto(f"{base}/")
    assert page.locator("html").get_attribute("lang") == "es-MX"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Saltar al contenido"

    print("- sign in", flush=True)
    page.goto(f"{base}/user/login")
    page.get_by_label("Usuario o correo electrónico").fill(user)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(f"{base}/")
    assert page.get_by_role("button", name="Cerrar sesión").is_visible()

    print("- create a dataset", flush=True)
    page.goto(f"{base}/dataset/new")
    page.get_by_label("Título").fill("Ciclovías de Monterrey")
    page.get_by_label("Descripción").fill("Tramos de **ciclovía** por colonia.")
    page.get_by_label("Etiquetas").fill("movilidad, bicicleta")
    page.get_by_role("button", name="Guardar y agregar datos").click()
    page.wait_for_url(f"{base}/dataset/ciclovias-de-monterrey/resource/new")

    print("- upload a file", flush=True)
    page.get_by_label("Nombre del recurso").fill("Tramos (CSV)")
    page.get_by_label("Archivo").set_input_files(upload_file)
    page.get_by_role("button", name="Guardar recurso").click()
    page.wait_for_url(f"{base}/dataset/ciclovias-de-monterrey")
    assert page.get_by_role("link", name="Tramos (CSV)", exact=True).is_visible()
    assert page.get_by_role("link", name="Descargar Tramos (CSV)").is_visible(), "download links name their file"

    print("- find it by search, typed without accents", flush=True)
    page.goto(f"{base}/dataset")
    page.get_by_label("Buscar conjuntos de datos").fill("ciclovias")
    page.get_by_label("Buscar conjuntos de datos").press("Enter")
    page.wait_for_load_state()
    link = page.get_by_role("link", name="Ciclovías de Monterrey", exact=True)
    assert link.is_visible()
    link.click()
    page.wait_for_url(f"{base}/dataset/ciclovias-de-monterrey")

    print("- switch to English", flush=True)
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Data and resources").is_visible()
    browser.close()

print("browser: all steps passed")
