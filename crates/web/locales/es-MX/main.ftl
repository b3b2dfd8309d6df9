# datalab, español de México (idioma predeterminado)

site-name = datalab
site-tagline = Datos abiertos de Nuevo León
skip-to-content = Saltar al contenido
nav-main = Navegación principal
nav-datasets = Conjuntos de datos
nav-organizations = Organizaciones
nav-groups = Temas
nav-login = Iniciar sesión
nav-logout = Cerrar sesión
nav-register = Crear cuenta
switch-language = English
footer-text = datalab: datos abiertos y participación ciudadana para resolver problemas públicos.
footer-api = API compatible con CKAN
back-home = Volver al inicio
breadcrumb = Ruta de navegación
actions = Acciones

home-title = Inicio
home-heading = Datos abiertos para resolver problemas públicos
home-lead = Busca, descarga y consulta los datos que publican las dependencias del estado y sus aliados.
stat-datasets = conjuntos de datos
stat-organizations = organizaciones
stat-groups = temas
themes-heading = Explora por tema
newest-heading = Publicados recientemente
datasets-count = { $count ->
    [one] 1 conjunto de datos
   *[other] { $count } conjuntos de datos
}

search-title = Conjuntos de datos
search-label = Buscar conjuntos de datos
search-placeholder = Por ejemplo: población, accidentes, presupuesto
search-button = Buscar
sort-label = Ordenar por
sort-relevance = Relevancia
sort-name = Nombre
sort-modified = Última modificación
filters = Filtros
remove-filter = (quitar filtro)
results-count = { $count ->
    [0] Ningún conjunto de datos encontrado
    [one] 1 conjunto de datos encontrado
   *[other] { $count } conjuntos de datos encontrados
}
no-results = No encontramos conjuntos de datos con esos criterios. Prueba con otras palabras o quita algún filtro.
pagination = Paginación
previous = Anterior
next = Siguiente
page-of = Página { $page } de { $pages }
facet-organization = Organizaciones
facet-groups = Temas
facet-tags = Etiquetas
facet-res-format = Formatos
facet-license-id = Licencias

private = Privado
deleted = Eliminado
download = Descargar
resources-heading = Datos y recursos
no-resources = Este conjunto de datos aún no tiene recursos.
info-heading = Información adicional
open-license = Licencia abierta
api-heading = Usa estos datos desde la API
api-intro = Copia y pega cualquiera de estos ejemplos. La API es compatible con CKAN, así que funcionan las herramientas que ya conoces.
api-native = API nativa de datalab
activity-heading = Historial de cambios
no-activity = Todavía no hay cambios registrados.
someone = Alguien
activity-new-package = creó el conjunto de datos
activity-changed-package = actualizó el conjunto de datos
activity-deleted-package = eliminó el conjunto de datos
activity-new-organization = creó la organización
activity-changed-organization = actualizó la organización
activity-new-group = creó el tema

dataset-new = Publicar un conjunto de datos
dataset-edit = Editar metadatos
dataset-delete = Eliminar este conjunto de datos
dataset-create-next = Guardar y agregar datos
resource-add = Agregar datos
resource-save = Guardar recurso
resource-delete = Eliminar este recurso
finish-later = Terminar después
save = Guardar
form-has-errors = Revisa los campos marcados: hay datos que no pudimos aceptar.

field-title = Título
field-name = Nombre en la URL
field-name-hint = Solo minúsculas sin acentos, números, guiones (-) y guiones bajos (_). Si lo dejas vacío, lo generamos a partir del título.
field-notes = Descripción
field-notes-hint = Puedes usar Markdown: **negritas**, listas y enlaces.
field-organization = Organización
field-license = Licencia
field-tags = Etiquetas
field-tags-hint = Separadas por comas, por ejemplo: movilidad, seguridad vial
field-groups = Temas
field-visibility = Visibilidad
visibility-public = Público: cualquiera puede verlo
visibility-private = Privado: solo los miembros de la organización
field-temporal = Cobertura temporal
field-temporal-start = Desde
field-temporal-end = Hasta
field-date-hint = Año, mes o día: 2024, 2024-03 o 2024-03-31
field-spatial = Cobertura geográfica
field-spatial-hint = Elige uno o varios municipios (mantén presionada la tecla Ctrl o Cmd), o todo el estado.
field-update-frequency = Frecuencia de actualización
field-language = Idioma de los datos
language-es = Español
language-en = Inglés
field-contact = Contacto
field-contact-name = Nombre de contacto
field-contact-email = Correo de contacto
field-author = Autor
field-author-email = Correo del autor
field-maintainer = Responsable
field-maintainer-email = Correo del responsable
field-source = Fuente
field-version = Versión
field-created = Creado
field-modified = Última modificación
field-description = Descripción
field-format = Formato
field-format-hint = Por ejemplo CSV, XLSX o JSON; si lo dejas vacío, lo deducimos del archivo.
field-link = Enlace a los datos
field-link-hint = Si los datos están en otro sitio, pega aquí su dirección en lugar de subir un archivo.
field-upload = Archivo
field-upload-hint = Tamaño máximo: { $size }.
field-resource-name = Nombre del recurso
field-size = Tamaño
field-mimetype = Tipo de contenido
field-image-url = URL del logotipo
field-kind = Tipo de organización
field-username = Nombre de usuario
field-fullname = Nombre completo
field-email = Correo electrónico
field-password = Contraseña
field-password-hint = Al menos 8 caracteres.
field-password-confirmation = Confirma la contraseña
field-login = Usuario o correo electrónico
field-role = Rol
field-token-name = Nombre del token

frequency-continuous = Continua
frequency-daily = Diaria
frequency-weekly = Semanal
frequency-monthly = Mensual
frequency-quarterly = Trimestral
frequency-biannual = Semestral
frequency-annual = Anual
frequency-irregular = Irregular
frequency-never = Sin actualizaciones

kind-government = Dependencia de gobierno
kind-civil-society = Sociedad civil
kind-academia = Academia
kind-private = Sector privado

role-member = Miembro
role-editor = Editor
role-admin = Administrador
roles-explained = Miembro: ve los datos privados. Editor: además publica y edita conjuntos de datos. Administrador: además gestiona la organización y sus miembros.

organization-edit = Editar organización
organization-new = Nueva organización
members-manage = Miembros
members-current = Miembros actuales
member-add = Agregar miembro
member-remove = Quitar

login-failed = El usuario o la contraseña no son correctos.
no-account = ¿Aún no tienes cuenta?
sysadmin = Administración del sitio
tokens-heading = Tokens de la API
tokens-intro = Usa un token en el encabezado Authorization para publicar desde tus programas. Puedes tener varios y revocarlos cuando quieras.
token-created = Token «{ $name }» creado. Cópialo ahora: no volveremos a mostrarlo.
token-create = Crear token
token-revoke = Revocar
token-last-used = Último uso

error-code = Código de error { $status }
error-not-found = No encontramos esta página
error-not-authenticated = Necesitas iniciar sesión para hacer esto
error-forbidden = No tienes permiso para hacer esto
error-validation = Hay datos que no pudimos aceptar
error-bad-request = La solicitud no es válida
error-search-query = La búsqueda no es válida
error-too-large = El archivo es demasiado grande
error-too-many-requests = Demasiados intentos; espera unos minutos y vuelve a intentarlo
error-csrf = El formulario caducó o se envió desde otro sitio; recarga la página e inténtalo de nuevo
error-internal = Algo salió mal de nuestro lado; ya quedó registrado

field-error-missing = Este campo es obligatorio.
field-error-slug-invalid = Usa solo minúsculas sin acentos, números, guiones (-) y guiones bajos (_).
field-error-slug-too-short = Debe tener al menos 2 caracteres.
field-error-slug-too-long = Debe tener como máximo 100 caracteres.
field-error-name-taken = Ese nombre ya está en uso.
field-error-email-invalid = El correo electrónico no es válido.
field-error-url-invalid = Escribe una dirección web completa que empiece con http:// o https://.
field-error-license-unknown = Esa licencia no existe.
field-error-organization-unknown = Esa organización no existe.
field-error-group-unknown = Ese tema no existe.
field-error-municipality-unknown = Ese código no corresponde a un municipio de Nuevo León.
field-error-frequency-unknown = Esa frecuencia de actualización no existe.
field-error-language-unknown = Ese idioma no está disponible.
field-error-date-invalid = La fecha no es válida; usa AAAA, AAAA-MM o AAAA-MM-DD.
field-error-temporal-order = El final de la cobertura temporal es anterior a su inicio.
field-error-too-long = El texto es demasiado largo.
field-error-not-a-boolean = El valor debe ser verdadero o falso.
field-error-not-a-list = El valor debe ser una lista.
field-error-unknown-value = Ese valor no es válido.
field-error-password-too-short = La contraseña debe tener al menos 8 caracteres.
field-error-unknown-field = Este campo no existe.
