# datalab, English

site-name = datalab
site-tagline = Nuevo León open data
skip-to-content = Skip to content
nav-main = Main navigation
nav-datasets = Datasets
nav-organizations = Organizations
nav-groups = Themes
nav-login = Sign in
nav-logout = Sign out
nav-register = Create account
switch-language = Español
footer-text = datalab: open data and civic participation to solve public problems.
footer-api = CKAN-compatible API
back-home = Back to the home page
breadcrumb = Breadcrumb
actions = Actions

home-title = Home
home-heading = Open data to solve public problems
home-lead = Search, download and query the data published by state agencies and their allies.
stat-datasets = datasets
stat-organizations = organizations
stat-groups = themes
themes-heading = Explore by theme
newest-heading = Recently published
datasets-count = { $count ->
    [one] 1 dataset
   *[other] { $count } datasets
}

search-title = Datasets
search-label = Search datasets
search-placeholder = For example: population, accidents, budget
search-button = Search
sort-label = Sort by
sort-relevance = Relevance
sort-name = Name
sort-modified = Last modified
filters = Filters
remove-filter = (remove filter)
results-count = { $count ->
    [0] No datasets found
    [one] 1 dataset found
   *[other] { $count } datasets found
}
no-results = No datasets match. Try other words or remove a filter.
pagination = Pagination
previous = Previous
next = Next
page-of = Page { $page } of { $pages }
facet-organization = Organizations
facet-groups = Themes
facet-tags = Tags
facet-res-format = Formats
facet-license-id = Licences

private = Private
deleted = Deleted
download = Download
resources-heading = Data and resources
no-resources = This dataset has no resources yet.
info-heading = Additional information
open-license = Open licence
api-heading = Use this data through the API
api-intro = Copy and paste any of these examples. The API is CKAN-compatible, so the tools you know work.
api-native = datalab native API
activity-heading = Change history
no-activity = No changes recorded yet.
someone = Someone
activity-new-package = created the dataset
activity-changed-package = updated the dataset
activity-deleted-package = deleted the dataset
activity-new-organization = created the organization
activity-changed-organization = updated the organization
activity-new-group = created the theme

dataset-new = Publish a dataset
dataset-edit = Edit metadata
dataset-delete = Delete this dataset
dataset-create-next = Save and add data
resource-add = Add data
resource-save = Save resource
resource-delete = Delete this resource
finish-later = Finish later
save = Save
form-has-errors = Please check the marked fields: some values could not be accepted.

field-title = Title
field-name = URL name
field-name-hint = Lowercase letters without accents, digits, dashes (-) and underscores (_) only. Left empty, it is made from the title.
field-notes = Description
field-notes-hint = Markdown works: **bold**, lists and links.
field-organization = Organization
field-license = Licence
field-tags = Tags
field-tags-hint = Comma-separated, for example: mobility, road safety
field-groups = Themes
field-visibility = Visibility
visibility-public = Public: anyone can see it
visibility-private = Private: only members of the organization
field-temporal = Temporal coverage
field-temporal-start = From
field-temporal-end = To
field-date-hint = Year, month or day: 2024, 2024-03 or 2024-03-31
field-spatial = Geographic coverage
field-spatial-hint = Choose one or more municipalities (hold Ctrl or Cmd), or the whole state.
field-update-frequency = Update frequency
field-language = Language of the data
language-es = Spanish
language-en = English
field-contact = Contact
field-contact-name = Contact name
field-contact-email = Contact e-mail
field-author = Author
field-author-email = Author e-mail
field-maintainer = Maintainer
field-maintainer-email = Maintainer e-mail
field-source = Source
field-version = Version
field-created = Created
field-modified = Last modified
field-description = Description
field-format = Format
field-format-hint = For example CSV, XLSX or JSON; left empty, it is taken from the file.
field-link = Link to the data
field-link-hint = If the data lives on another site, paste its address here instead of uploading a file.
field-upload = File
field-upload-hint = Largest size: { $size }.
field-resource-name = Resource name
field-size = Size
field-mimetype = Content type
field-image-url = Logo URL
field-kind = Kind of organization
field-username = User name
field-fullname = Full name
field-email = E-mail
field-password = Password
field-password-hint = At least 8 characters.
field-password-confirmation = Confirm the password
field-login = User name or e-mail
field-role = Role
field-token-name = Token name

frequency-continuous = Continuous
frequency-daily = Daily
frequency-weekly = Weekly
frequency-monthly = Monthly
frequency-quarterly = Quarterly
frequency-biannual = Every six months
frequency-annual = Yearly
frequency-irregular = Irregular
frequency-never = Not updated

kind-government = Government agency
kind-civil-society = Civil society
kind-academia = Academia
kind-private = Private sector

role-member = Member
role-editor = Editor
role-admin = Administrator
roles-explained = Member: sees private data. Editor: also publishes and edits datasets. Administrator: also manages the organization and its members.

organization-edit = Edit organization
organization-new = New organization
members-manage = Members
members-current = Current members
member-add = Add member
member-remove = Remove

login-failed = The user name or password is not correct.
no-account = No account yet?
sysadmin = Site administration
tokens-heading = API tokens
tokens-intro = Put a token in the Authorization header to publish from your programs. You can have several and revoke them at any time.
token-created = Token “{ $name }” created. Copy it now: it will not be shown again.
token-create = Create token
token-revoke = Revoke
token-last-used = Last used

error-code = Error code { $status }
error-not-found = We could not find this page
error-not-authenticated = You need to sign in to do this
error-forbidden = You are not allowed to do this
error-validation = Some values could not be accepted
error-bad-request = The request is not valid
error-search-query = The search is not valid
error-too-large = The file is too large
error-too-many-requests = Too many attempts; wait a few minutes and try again
error-csrf = The form expired or was sent from another site; reload the page and try again
error-internal = Something went wrong on our side; it has been logged

field-error-missing = This field is required.
field-error-slug-invalid = Use only lowercase letters without accents, digits, dashes (-) and underscores (_).
field-error-slug-too-short = It must be at least 2 characters long.
field-error-slug-too-long = It must be at most 100 characters long.
field-error-name-taken = That name is already in use.
field-error-email-invalid = The e-mail address is not valid.
field-error-url-invalid = Write a full web address starting with http:// or https://.
field-error-license-unknown = That licence does not exist.
field-error-organization-unknown = That organization does not exist.
field-error-group-unknown = That theme does not exist.
field-error-municipality-unknown = That code is not a municipality of Nuevo León.
field-error-frequency-unknown = That update frequency does not exist.
field-error-language-unknown = That language is not available.
field-error-date-invalid = The date is not valid; use YYYY, YYYY-MM or YYYY-MM-DD.
field-error-temporal-order = The end of the temporal coverage is before its start.
field-error-too-long = The text is too long.
field-error-not-a-boolean = The value must be true or false.
field-error-not-a-list = The value must be a list.
field-error-unknown-value = That value is not valid.
field-error-password-too-short = The password must be at least 8 characters long.
field-error-unknown-field = This field does not exist.
