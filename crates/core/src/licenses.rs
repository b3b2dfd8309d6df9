//! The licence register. Datasets name a licence by id; the register says its
//! title, its URL and whether it is open (Open Definition conformant).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct License {
    pub id: &'static str,
    pub title: &'static str,
    pub url: &'static str,
    /// Conforms to the Open Definition: anyone may use, modify and share.
    pub is_open: bool,
}

pub const LICENSES: &[License] = &[
    License {
        id: "libre-uso-mx",
        title: "Términos de Libre Uso MX",
        url: "https://datos.gob.mx/libreusomx",
        is_open: true,
    },
    License {
        id: "cc-by-4.0",
        title: "Creative Commons Attribution 4.0",
        url: "https://creativecommons.org/licenses/by/4.0/",
        is_open: true,
    },
    License {
        id: "cc-by-sa-4.0",
        title: "Creative Commons Attribution Share-Alike 4.0",
        url: "https://creativecommons.org/licenses/by-sa/4.0/",
        is_open: true,
    },
    License {
        id: "cc-zero-1.0",
        title: "Creative Commons CC0 1.0",
        url: "https://creativecommons.org/publicdomain/zero/1.0/",
        is_open: true,
    },
    License {
        id: "odc-odbl-1.0",
        title: "Open Data Commons Open Database License 1.0 (ODbL)",
        url: "https://opendatacommons.org/licenses/odbl/1-0/",
        is_open: true,
    },
    License { id: "other", title: "Otra licencia", url: "", is_open: false },
];

/// The licence new datasets get when none is chosen: the Mexican government's own.
pub const DEFAULT_LICENSE_ID: &str = "libre-uso-mx";

pub fn find(id: &str) -> Option<&'static License> {
    LICENSES.iter().find(|license| license.id == id)
}
